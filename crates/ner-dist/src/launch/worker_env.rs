//! torchrun's launch contract: the variables a worker reads (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
//! `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`).

use std::collections::BTreeMap;

use crate::error::DistError;

/// One worker's place in the job, as torchrun's environment variables describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerEnv {
    pub rank: usize,
    pub world_size: usize,
    pub local_rank: usize,
    pub local_world_size: usize,
    pub master_addr: String,
    pub master_port: u16,
}

/// The variables [`WorkerEnv::from_env`] needs.
pub const TORCHRUN_VARS: [&str; 5] = [
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
];

impl WorkerEnv {
    /// The worker's place from torchrun's variables: `None` when none is set (no launcher), an error
    /// naming the variable when only some are, or one is not a number in range.
    pub fn from_env() -> Result<Option<Self>, DistError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`WorkerEnv::from_env`] over any source of variables.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, DistError> {
        if TORCHRUN_VARS.iter().all(|v| get(v).is_none()) {
            return Ok(None);
        }
        let required = |var: &'static str| {
            get(var).ok_or_else(|| DistError::Env {
                var,
                value: String::new(),
                message: format!(
                    "unset, while other launcher variables are set ({} are all needed)",
                    TORCHRUN_VARS.join(", ")
                ),
            })
        };
        let number = |var: &'static str, value: String| {
            value.trim().parse::<usize>().map_err(|e| DistError::Env {
                var,
                value: value.clone(),
                message: format!("not a non-negative integer ({e})"),
            })
        };
        let rank = number("RANK", required("RANK")?)?;
        let world_size = number("WORLD_SIZE", required("WORLD_SIZE")?)?;
        let local_rank = number("LOCAL_RANK", required("LOCAL_RANK")?)?;
        let master_addr = required("MASTER_ADDR")?;
        let port_text = required("MASTER_PORT")?;
        let master_port = port_text
            .trim()
            .parse::<u16>()
            .map_err(|e| DistError::Env {
                var: "MASTER_PORT",
                value: port_text.clone(),
                message: format!("not a port number ({e})"),
            })?;
        let local_world_size = match get("LOCAL_WORLD_SIZE") {
            Some(v) => number("LOCAL_WORLD_SIZE", v)?,
            None => 1,
        };
        if world_size == 0 || rank >= world_size {
            return Err(DistError::Env {
                var: "RANK",
                value: rank.to_string(),
                message: format!("must be below WORLD_SIZE={world_size}"),
            });
        }
        Ok(Some(Self {
            rank,
            world_size,
            local_rank,
            local_world_size,
            master_addr,
            master_port,
        }))
    }

    /// The variables that place a worker here, to start it with.
    pub fn vars(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("RANK", self.rank.to_string()),
            ("WORLD_SIZE", self.world_size.to_string()),
            ("LOCAL_RANK", self.local_rank.to_string()),
            ("LOCAL_WORLD_SIZE", self.local_world_size.to_string()),
            ("MASTER_ADDR", self.master_addr.clone()),
            ("MASTER_PORT", self.master_port.to_string()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_torchrun_variables() {
        let env = WorkerEnv::from_vars(vars(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "4"),
            ("LOCAL_RANK", "1"),
            ("LOCAL_WORLD_SIZE", "2"),
            ("MASTER_ADDR", "algo-1"),
            ("MASTER_PORT", "7777"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((env.rank, env.world_size, env.local_rank), (3, 4, 1));
        assert_eq!(env.vars()["MASTER_ADDR"], "algo-1");
        assert_eq!(WorkerEnv::from_vars(vars(&[])).unwrap(), None);
    }

    #[test]
    fn names_the_variable_that_is_missing_or_wrong() {
        let err = WorkerEnv::from_vars(vars(&[("RANK", "0"), ("WORLD_SIZE", "2")])).unwrap_err();
        assert!(err.to_string().contains("LOCAL_RANK"), "{err}");
        let err = WorkerEnv::from_vars(vars(&[
            ("RANK", "2"),
            ("WORLD_SIZE", "2"),
            ("LOCAL_RANK", "0"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "1"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("RANK=\"2\""), "{err}");
        let err = WorkerEnv::from_vars(vars(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("LOCAL_RANK", "0"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "http"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("MASTER_PORT=\"http\""), "{err}");
    }
}
