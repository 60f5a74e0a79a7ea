//! The choice types. To add a value, add a variant and its spellings here; every parser, flag,
//! message and file format follows from the table.

use crate::choice::choices;

choices! {
    /// Which output layer tags the units.
    pub enum Head as "head" {
        /// Linear emissions + CRF (transition scores, Viterbi decoding).
        #[default]
        Crf = ["crf"],
        /// Linear emissions + per-unit softmax (what the replaced TF system did); faster, usually a
        /// little less accurate.
        Softmax = ["softmax"],
    }
}

choices! {
    /// What turns characters into the states the head tags.
    pub enum Encoder as "encoder" {
        /// ALBERT's last hidden states, pretrained or from scratch (the replaced system's model).
        #[default]
        Albert = ["albert"],
        /// Character embeddings (optionally pretrained vectors), then a bidirectional LSTM.
        Bilstm = ["bilstm", "bi_lstm", "bilstm_crf"],
        /// ALBERT's last hidden states through a bidirectional LSTM.
        AlbertBilstm = ["albert_bilstm", "albert_bi_lstm", "albert_bilstm_crf"],
        /// BERT's last hidden states: Google's Chinese BERT, HFL's RoBERTa-wwm-ext and MacBERT (BERT
        /// architecture despite their names).
        Bert = ["bert"],
        /// BERT's last hidden states through a bidirectional LSTM.
        BertBilstm = ["bert_bilstm", "bert_bi_lstm", "bert_bilstm_crf"],
    }
}

impl Encoder {
    /// The transformer the encoder reads token ids with, as an encoder of its own (`Albert` or
    /// `Bert`); `None` for the character BiLSTM.
    pub fn transformer(self) -> Option<Encoder> {
        match self {
            Encoder::Albert | Encoder::AlbertBilstm => Some(Encoder::Albert),
            Encoder::Bert | Encoder::BertBilstm => Some(Encoder::Bert),
            Encoder::Bilstm => None,
        }
    }

    /// Whether a BiLSTM reads the states.
    pub fn has_lstm(self) -> bool {
        matches!(
            self,
            Encoder::Bilstm | Encoder::AlbertBilstm | Encoder::BertBilstm
        )
    }
}

choices! {
    /// Reduced-precision computation on a GPU (a CPU computes in fp32).
    pub enum MixedPrecision as "mixed_precision" {
        /// bf16 where the GPU has it, else fp16 with loss scaling on a GPU, else off.
        #[default]
        Auto = ["auto"],
        Bf16 = ["bf16", "bfloat16"],
        Fp16 = ["fp16", "float16"],
        Off = ["off", "false", "no", "fp32", "float32"],
    }
}

choices! {
    /// What a loaded model computes in when it tags (`predict --precision`, `ALBERT_NER_PRECISION`).
    pub enum InferencePrecision as "precision" {
        /// On a CPU the precision measured fastest with entity F1 within 0.5 points of fp32's (the
        /// start-up line says which and why); on a GPU, bf16 autocast where it has bf16, else fp16.
        #[default]
        Auto = ["auto"],
        /// The trained float32 weights as they are.
        Fp32 = ["fp32", "float32"],
        /// CPU only: the encoder's and classifier's linear layers dynamically quantized to int8.
        Int8 = ["int8", "qint8"],
        /// The encoder's and classifier's linear layers in bfloat16: on a CPU with avx512_bf16 or
        /// amx_bf16, or a GPU with bf16 (autocast).
        Bf16 = ["bf16", "bfloat16"],
    }
}

choices! {
    /// The format of a data file.
    pub enum DataFormat as "data_format" {
        /// Detected from the file's first non-empty line (the formats differ in their first byte).
        #[default]
        Auto = ["auto"],
        /// `char TAG` per line, blank line between sentences (BIO, BIOES or BMES; the replaced
        /// system's format).
        CharTag = ["char_tag"],
        /// CLUENER2020 JSON lines: `{"text", "label": {type: {entity: [[start, end_inclusive]]}}}`.
        Cluener = ["cluener"],
        /// JSON lines `{"text", "entities": [{"start", "end" (exclusive), "type"}]}`.
        SpanJsonl = ["span_jsonl"],
    }
}

choices! {
    /// Where to compute.
    pub enum Device as "device" {
        /// The GPU where an NVIDIA driver is present, else the CPU.
        #[default]
        Auto = ["auto"],
        Cpu = ["cpu"],
        Cuda = ["cuda", "gpu"],
    }
}

choices! {
    /// Whether training spreads over the job's devices and hosts.
    pub enum Distributed as "distributed" {
        /// One worker per GPU (or `processes_per_host`) on every host, one process group.
        #[default]
        Auto = ["auto", "on", "true", "yes"],
        /// One process on `hosts[0]`; other hosts stay idle.
        Off = ["off", "false", "no", "none"],
    }
}

choices! {
    /// What a training job does with its data.
    pub enum Task as "task" {
        /// Fine-tune a tagger on labelled sentences.
        #[default]
        Ner = ["ner"],
        /// Continue (or start) the transformer's masked-language-model pre-training on raw text.
        Pretrain = ["pretrain"],
    }
}

choices! {
    /// The task of `albert_ner.py`'s `task_name` flag; kept for compatibility.
    pub enum TaskName as "task_name" {
        #[default]
        Ner = ["ner"],
    }
}

choices! {
    /// The file format `export` writes a tagger's emissions network in.
    pub enum ExportFormat as "format" {
        /// TorchScript (`torch.jit.load`, libtorch's `torch::jit::load`).
        #[default]
        TorchScript = ["torchscript", "pt"],
        /// ONNX (onnxruntime and other ONNX runtimes).
        Onnx = ["onnx"],
    }
}
