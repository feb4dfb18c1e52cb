package io.github.zimage4j.tokenizer;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.ModelFileException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tokenizer's rules on small hand-made tokenizer.json files, where the expected ids follow from the
 * definitions by hand; bad input; and the loading variants. In the synthetic files byte {@code b} is token
 * {@code b}, and extra tokens follow from 256.
 */
class Qwen3TokenizerTest {

    private static final String QWEN_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    @TempDir
    Path tmp;

    /** A byte-level BPE tokenizer.json in the Qwen3 form. */
    static Map<String, Object> tokenizerJson(List<String> extraTokens, List<List<String>> merges, List<String> added) {
        Map<String, Object> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(ByteLevel.charOf(b)), b);
        }
        for (String t : extraTokens) {
            vocab.put(t, vocab.size());
        }
        List<Object> addedTokens = new ArrayList<>();
        for (String content : added) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", vocab.size() + addedTokens.size());
            t.put("content", content);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
            addedTokens.add(t);
        }
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        model.put("vocab", vocab);
        model.put("merges", merges);
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        root.put("added_tokens", addedTokens);
        root.put("normalizer", Map.of("type", "NFC"));
        root.put("pre_tokenizer", Map.of("type", "Sequence", "pretokenizers", List.of(
                Map.of("type", "Split", "pattern", Map.of("Regex", QWEN_REGEX), "behavior", "Isolated", "invert", false),
                Map.of("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", false, "use_regex", false))));
        root.put("post_processor", Map.of("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", false, "use_regex", false));
        root.put("decoder", Map.of("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", false, "use_regex", false));
        root.put("model", model);
        return root;
    }

    static Map<String, Object> tokenizerJson(List<String> extraTokens, List<List<String>> merges) {
        return tokenizerJson(extraTokens, merges, List.of("<|im_start|>", "<|im_end|>"));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> model(Map<String, Object> json) {
        return (Map<String, Object>) json.get("model");
    }

    Path write(Map<String, Object> json) throws IOException {
        return write(Json.write(json));
    }

    Path write(String text) throws IOException {
        Path file = tmp.resolve("tokenizer.json");
        Files.writeString(file, text);
        return file;
    }

    Qwen3Tokenizer load(Map<String, Object> json) throws IOException {
        return Qwen3Tokenizer.load(write(json));
    }

    static String bl(String text) {
        return ByteLevel.stringOf(text.getBytes(StandardCharsets.UTF_8));
    }

    // ---- BPE order ----

    @Test
    void lowerRankMergesFirstWhereverItIs() throws IOException {
        // (b,c) has rank 0, (a,b) rank 1: "abc" is a + bc, not ab + c as a left-to-right scan would give.
        Qwen3Tokenizer t = load(tokenizerJson(List.of("bc", "ab"), List.of(List.of("b", "c"), List.of("a", "b"))));
        assertArrayEquals(new int[] {'a', 256}, t.encode("abc"));
        assertArrayEquals(new int[] {257}, t.encode("ab"));
    }

    @Test
    void equalRanksMergeLeftmostFirst() throws IOException {
        Qwen3Tokenizer t = load(tokenizerJson(List.of("aa"), List.of(List.of("a", "a"))));
        assertArrayEquals(new int[] {256, 'a'}, t.encode("aaa"));
        assertArrayEquals(new int[] {256, 256}, t.encode("aaaa"));
        assertArrayEquals(new int[] {256, 256, 'a'}, t.encode("aaaaa"));
    }

    @Test
    void mergesChainAndReadTheSameInEveryForm() throws IOException {
        Map<String, Object> pairs = tokenizerJson(List.of("ab", "abc"), List.of(List.of("a", "b"), List.of("ab", "c")));
        assertArrayEquals(new int[] {257, 257, 'a'}, load(pairs).encode("abcabca"));
        Map<String, Object> legacy = tokenizerJson(List.of("ab", "abc"), List.of());
        model(legacy).put("merges", List.of("a b", "ab c"));
        assertArrayEquals(new int[] {257, 257, 'a'}, load(legacy).encode("abcabca"));
        // Merges listed before the vocabulary are read once the vocabulary is known.
        Map<String, Object> mergesFirst = tokenizerJson(List.of("ab", "abc"), List.of());
        Map<String, Object> model = new LinkedHashMap<>(model(mergesFirst));
        Object vocab = model.remove("vocab");
        model.put("merges", List.of(List.of("a", "b"), List.of("ab", "c")));
        model.put("vocab", vocab);
        mergesFirst.put("model", model);
        assertTrue(Json.write(mergesFirst).indexOf("\"merges\"") < Json.write(mergesFirst).indexOf("\"vocab\""));
        assertArrayEquals(new int[] {257, 257, 'a'}, load(mergesFirst).encode("abcabca"));
    }

    @Test
    void textBetweenRegexMatchesIsAPieceOfItsOwn() throws IOException {
        // With the split regex \p{L}+, "ab 12" is the match "ab" and the unmatched " 12", each a piece:
        // (b, space) must not merge across them, (space, 1) merges inside the second.
        String space = String.valueOf(ByteLevel.charOf(' '));
        Map<String, Object> json = tokenizerJson(List.of("b" + space, space + "1"),
                List.of(List.of("b", space), List.of(space, "1")));
        setRegex(json, "\\p{L}+");
        assertArrayEquals(new int[] {'a', 'b', 257, '2'}, load(json).encode("ab 12"));
    }

    @Test
    void contractionsFoldCaseLikeTheReference() throws IOException {
        // Oniguruma's (?i:'s|...) also matches 's written with U+017F LONG S (it folds to s): "x'\u017Ft" is
        // the pieces "x", "'\u017F", "t". Without Unicode case folding "'\u017Ft" would be one piece
        // (a non-letter then letters), and the merge of \u017F with t would apply.
        String longS = bl("\u017F");
        Map<String, Object> json = tokenizerJson(List.of(longS, longS + "t"),
                List.of(List.of(longS.substring(0, 1), longS.substring(1)), List.of(longS, "t")));
        Qwen3Tokenizer t = load(json);
        assertArrayEquals(new int[] {'x', '\'', 256, 't'}, t.encode("x'\u017Ft"));
        assertArrayEquals(new int[] {'x', '\'', 'S', 't'}, t.encode("x'St"));
    }

    @SuppressWarnings("unchecked")
    static void setRegex(Map<String, Object> json, String regex) {
        Map<String, Object> pre = new LinkedHashMap<>((Map<String, Object>) json.get("pre_tokenizer"));
        List<Object> steps = new ArrayList<>((List<Object>) pre.get("pretokenizers"));
        Map<String, Object> split = new LinkedHashMap<>((Map<String, Object>) steps.get(0));
        split.put("pattern", Map.of("Regex", regex));
        steps.set(0, split);
        pre.put("pretokenizers", steps);
        json.put("pre_tokenizer", pre);
    }

    // ---- added tokens ----

    @Test
    void addedTokensMatchLeftmostThenLongestAndCaseSensitive() throws IOException {
        Qwen3Tokenizer t = load(tokenizerJson(List.of(), List.of(), List.of("<|im_start|>", "<|im_end|>", "ab", "abc", "bcd")));
        int ab = 258;
        int abc = 259;
        int bcd = 260;
        // "abc" and "ab" start at 1, before "bcd" at 2; the longer of the two wins.
        assertArrayEquals(new int[] {'x', abc, 'd'}, t.encode("xabcd"));
        assertArrayEquals(new int[] {ab, 'x', bcd}, t.encode("abxbcd"));
        assertArrayEquals(new int[] {'A', 'B', 'C'}, t.encode("ABC"));
        // Spaces next to an added token stay separate tokens.
        assertArrayEquals(new int[] {' ', abc, ' '}, t.encode(" abc "));
        assertArrayEquals(new int[] {256, 'u', 257}, t.encode("<|im_start|>u<|im_end|>"));
    }

    // ---- bad input ----

    @Test
    void unpairedSurrogatesAreRejectedWithTheirPosition() {
        Qwen3Tokenizer t = Qwen3Tokenizer.bundled();
        IllegalArgumentException high = assertThrows(IllegalArgumentException.class, () -> t.encode("a\uD800b"));
        assertEquals("the text has an unpaired surrogate U+D800 at index 1; it is not valid Unicode and cannot be"
                + " tokenized (replace it, e.g. with U+FFFD)", high.getMessage());
        IllegalArgumentException low = assertThrows(IllegalArgumentException.class, () -> t.encode("\uDC00x"));
        assertTrue(low.getMessage().contains("U+DC00 at index 0"), low.getMessage());
        IllegalArgumentException atEnd = assertThrows(IllegalArgumentException.class, () -> t.encode("ok\uD83D"));
        assertTrue(atEnd.getMessage().contains("U+D83D at index 2"), atEnd.getMessage());
        IllegalArgumentException reversed = assertThrows(IllegalArgumentException.class, () -> t.encode("\uDE00\uD83D"));
        assertTrue(reversed.getMessage().contains("U+DE00 at index 0"), reversed.getMessage());
        IllegalArgumentException prompt = assertThrows(IllegalArgumentException.class, () -> t.chatIds("cat \uD800", 512));
        assertTrue(prompt.getMessage().startsWith("the prompt has an unpaired surrogate U+D800 at index 4"), prompt.getMessage());
        // A proper pair is fine: U+1F600 is 4 bytes.
        assertEquals("\uD83D\uDE00", t.decode(t.encode("\uD83D\uDE00")));
    }

    @Test
    void nullsAndBadLengthsAreClearErrors() {
        Qwen3Tokenizer t = Qwen3Tokenizer.bundled();
        NullPointerException prompt = assertThrows(NullPointerException.class, () -> t.chatIds(null, 512));
        assertEquals("prompt is null; use \"\" for an empty (e.g. negative) prompt", prompt.getMessage());
        assertThrows(NullPointerException.class, () -> t.chatIds(null));
        assertEquals("text to tokenize is null", assertThrows(NullPointerException.class, () -> t.encode(null)).getMessage());
        assertEquals("ids to decode are null", assertThrows(NullPointerException.class, () -> t.decode(null)).getMessage());
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class, () -> t.chatIds("cat", 0));
        assertEquals("max_sequence_length must be at least 1 but is 0", zero.getMessage());
    }

    @Test
    void truncationKeepsTheFirstIds() {
        Qwen3Tokenizer t = Qwen3Tokenizer.bundled();
        int[] full = t.encode(Qwen3Tokenizer.chatText("a cat"));
        PromptTokens cut = t.chatIds("a cat", 4);
        assertArrayEquals(java.util.Arrays.copyOf(full, 4), cut.ids());
        assertEquals(full.length - 4, cut.droppedTokens());
        PromptTokens exact = t.chatIds("a cat", full.length);
        assertArrayEquals(full, exact.ids());
        assertEquals(0, exact.droppedTokens());
    }

    @Test
    void decodeRejectsUnknownIds() {
        Qwen3Tokenizer t = Qwen3Tokenizer.bundled();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {9707, 151669}));
        assertEquals("ids[1] = 151669 is not a token id of this tokenizer (0..151668)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {-1}));
    }

    @Test
    void decodeReplacesEachMaximalIllFormedSubpart() throws IOException {
        // Byte b is token b here, so ids are bytes. The expectations follow the Unicode Standard's
        // "U+FFFD Substitution of Maximal Subparts" (chapter 3), which Rust's from_utf8_lossy implements.
        Qwen3Tokenizer t = load(tokenizerJson(List.of(), List.of()));
        assertEquals("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd", t.decode(new int[] {
                0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64})); // the standard's example
        assertEquals("\uFFFD\uFFFD\uFFFD", t.decode(new int[] {0xED, 0xA0, 0x80})); // an encoded surrogate
        assertEquals("\uFFFD\uFFFD\uFFFD", t.decode(new int[] {0xE0, 0x80, 0x80})); // overlong
        assertEquals("\uFFFD\uFFFD\uFFFD\uFFFD", t.decode(new int[] {0xF4, 0x90, 0x80, 0x80})); // above U+10FFFF
        assertEquals("\uFFFDA", t.decode(new int[] {0xF0, 0x9F, 0x98, 'A'})); // a cut-off emoji
        assertEquals("\uFFFD", t.decode(new int[] {0xF0, 0x9F, 0x98}));
        assertEquals("\uD83D\uDE00\u00E9", t.decode(new int[] {0xF0, 0x9F, 0x98, 0x80, 0xC3, 0xA9}));
        assertEquals("\uFFFD\uFFFD", t.decode(new int[] {0xC0, 0xAF}));
        assertEquals("<|im_start|>", t.decode(new int[] {256}));
    }

    @Test
    void longRunsEncodeAndDecodeBack() {
        Qwen3Tokenizer t = Qwen3Tokenizer.bundled();
        for (String text : new String[] {"a".repeat(100_000), " ".repeat(50_000) + "x", "\n".repeat(20_000),
                "中文".repeat(20_000), "1".repeat(30_000), "!?".repeat(30_000)}) {
            assertEquals(text, t.decode(t.encode(text)), () -> "round trip of a run of " + text.length());
        }
    }

    // ---- loading ----

    @Test
    void loadsFromAFileAFolderOrItsTokenizerSubfolder() throws IOException {
        Map<String, Object> json = tokenizerJson(List.of("ab"), List.of(List.of("a", "b")));
        Path file = write(json);
        assertArrayEquals(new int[] {256}, Qwen3Tokenizer.load(file).encode("ab"));
        assertArrayEquals(new int[] {256}, Qwen3Tokenizer.load(tmp).encode("ab"));
        Path checkpoint = Files.createDirectories(tmp.resolve("checkpoint/tokenizer"));
        Files.copy(file, checkpoint.resolve("tokenizer.json"));
        assertArrayEquals(new int[] {256}, Qwen3Tokenizer.load(checkpoint.getParent()).encode("ab"));
        assertEquals(checkpoint.resolve("tokenizer.json").toString(), Qwen3Tokenizer.forCheckpoint(checkpoint.getParent()).source());
    }

    @Test
    void aVocabularyLargerThanTheFileSizeSuggestsStillLoads() throws IOException {
        // The reader sizes its token table from the file size; a compact file with many short tokens
        // makes it grow several times.
        String chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        List<String> pairs = new ArrayList<>();
        for (char x : chars.toCharArray()) {
            for (char y : chars.toCharArray()) {
                pairs.add("" + x + y);
            }
        }
        Qwen3Tokenizer t = load(tokenizerJson(pairs, List.of(List.of("Q", "z"), List.of("a", "b"))));
        assertEquals(256 + pairs.size() + 2, t.vocabSize());
        assertArrayEquals(new int[] {256 + pairs.indexOf("Qz"), ' ', 256 + pairs.indexOf("ab")}, t.encode("Qz ab"));
    }

    @Test
    void checkpointsWithoutATokenizerUseTheBundledOne() throws IOException {
        Path folder = Files.createDirectories(tmp.resolve("no-tokenizer"));
        assertTrue(Qwen3Tokenizer.forCheckpoint(folder).source().startsWith("bundled "));
        Path singleFile = Files.writeString(tmp.resolve("z_image_turbo.safetensors"), "x");
        assertTrue(Qwen3Tokenizer.forCheckpoint(singleFile).source().startsWith("bundled "));
    }

    @Test
    void missingFilesNameThePath() throws IOException {
        Path missing = tmp.resolve("nope.json");
        assertEquals(missing + ": no such file (expected a tokenizer.json or a folder holding one)",
                assertThrows(ModelFileException.class, () -> Qwen3Tokenizer.load(missing)).getMessage());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertEquals(empty + ": no tokenizer.json in this folder or in its tokenizer/ subfolder",
                assertThrows(ModelFileException.class, () -> Qwen3Tokenizer.load(empty)).getMessage());
    }

    /** Loads the text and returns the error message, which must name the file. */
    String loadError(String text) throws IOException {
        return loadError(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Each char of {@code text} as one byte: for files that are not UTF-8. */
    static byte[] latin1(String text) {
        return text.getBytes(StandardCharsets.ISO_8859_1);
    }

    String loadError(byte[] bytes) throws IOException {
        Path file = tmp.resolve("tokenizer.json");
        Files.write(file, bytes);
        ModelFileException e = assertThrows(ModelFileException.class, () -> Qwen3Tokenizer.load(file));
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        return e.getMessage().substring(file.toString().length() + 2);
    }

    String loadError(Consumer<Map<String, Object>> edit) throws IOException {
        Map<String, Object> json = tokenizerJson(List.of("ab"), List.of(List.of("a", "b")));
        edit.accept(json);
        return loadError(Json.write(json));
    }

    @Test
    void malformedJsonIsRejectedWithItsPosition() throws IOException {
        assertEquals("invalid tokenizer.json: not a tokenizer.json: expected a JSON object at the top level at line 1, column 1",
                loadError("not json"));
        assertEquals("invalid tokenizer.json: not a tokenizer.json: expected a JSON object at the top level at line 1, column 1",
                loadError("[1, 2]"));
        String valid = Json.write(tokenizerJson(List.of("ab"), List.of(List.of("a", "b"))));
        assertTrue(loadError(valid.substring(0, valid.length() / 2)).startsWith("invalid tokenizer.json: "));
        assertEquals("invalid tokenizer.json: expected ',' or '}' at line 2, column 1", loadError("{\"version\": \"1.0\"\n"));
        assertEquals("invalid tokenizer.json: unexpected content after the top-level object at line 1, column 4",
                loadError("{} x"));
        // The vocab is streamed, not parsed by Json: it has its own duplicate check.
        String twice = valid.replace("\"vocab\":{", "\"vocab\":{\"a\":97,");
        assertTrue(loadError(twice).startsWith("invalid tokenizer.json: \"model.vocab\" has the token \"a\" twice at line 1, column "),
                loadError(twice));
        assertEquals("invalid tokenizer.json: not a tokenizer.json: it has no \"model\"", loadError("{\"version\": \"1.0\"}"));

        // Bytes that are not UTF-8: in a key, in a vocabulary token, in a small section.
        assertEquals("invalid tokenizer.json: the file is not UTF-8 text at line 1, column 3",
                loadError(latin1("{\"\u00ff\":1}")));
        String notUtf8 = loadError(latin1(valid.replace("\"vocab\":{", "\"vocab\":{\"\u00ff\u00fe\":1,")));
        assertTrue(notUtf8.startsWith("invalid tokenizer.json: the file is not UTF-8 text at line 1, column "), notUtf8);
        assertEquals("invalid tokenizer.json: the value is not UTF-8 text at line 1, column 12",
                loadError(latin1("{\"version\":\"\u00c3\"}")));
    }

    @Test
    void unsupportedOrInconsistentTokenizersAreRejected() throws IOException {
        assertEquals("invalid tokenizer.json: \"model.type\" should be \"BPE\" but is \"WordPiece\"",
                loadError(json -> model(json).put("type", "WordPiece")));
        assertTrue(loadError(json -> json.put("normalizer", Map.of("type", "NFKC")))
                .startsWith("invalid tokenizer.json: unsupported \"normalizer\" {\"type\":\"NFKC\"}"));
        assertTrue(loadError(json -> json.put("pre_tokenizer", Map.of("type", "ByteLevel", "add_prefix_space", false, "use_regex", true)))
                .startsWith("invalid tokenizer.json: unsupported \"pre_tokenizer\" "));
        assertTrue(loadError(json -> json.put("post_processor", Map.of("type", "TemplateProcessing")))
                .startsWith("invalid tokenizer.json: unsupported \"post_processor\" "));
        assertTrue(loadError(json -> json.remove("decoder")).startsWith("invalid tokenizer.json: unsupported \"decoder\" null"));
        assertEquals("invalid tokenizer.json: \"model.byte_fallback\" should be false (not supported) but is true",
                loadError(json -> model(json).put("byte_fallback", true)));
        assertEquals("invalid tokenizer.json: \"model\" has no \"merges\"", loadError(json -> model(json).remove("merges")));
        assertTrue(loadError(json -> model(json).put("merges", List.of(List.of("a", "x"))))
                .startsWith("invalid tokenizer.json: merge #0 (\"a\", \"x\") needs \"ax\", which is not in \"model.vocab\" at line 1"));
        assertTrue(loadError(json -> model(json).put("merges", List.of(List.of("x\u4e2d", "a"))))
                .startsWith("invalid tokenizer.json: merge #0 (\"x\u4e2d\", \"a\") needs \"x\u4e2d\", which is not in \"model.vocab\""));
        assertTrue(loadError(json -> model(json).put("merges", List.of("a b\u4e2d")))
                .startsWith("invalid tokenizer.json: merge #0 (\"a\", \"b\u4e2d\") needs \"b\u4e2d\", which is not in \"model.vocab\""));
        assertTrue(loadError(json -> model(json).put("merges", List.of("a b c")))
                .startsWith("invalid tokenizer.json: merge #0 \"a b c\" should be two tokens separated by one space"));
        assertEquals("invalid tokenizer.json: \"model.vocab\" should number its 257 tokens 0..256 without gaps, but \"ab\" has id 300",
                loadError(json -> vocab(json).put("ab", 300)));
        assertTrue(loadError(json -> vocab(json).put("a b", 257)).startsWith("invalid tokenizer.json: \"model.vocab\" token"
                + " \"a b\" (id 257) is not a byte-level BPE token: it is empty or has characters outside the GPT-2 byte alphabet at line 1"));
        assertTrue(loadError(json -> vocab(json).put("\u00e9\u4e2d", 257)).startsWith("invalid tokenizer.json: \"model.vocab\" token"
                + " \"\u00e9\u4e2d\" (id 257) is not a byte-level BPE token"));
        assertTrue(loadError(json -> vocab(json).put("\u0100\u0101", 2)).startsWith("invalid tokenizer.json: \"model.vocab\" gives id 2 to both"));
        assertTrue(loadError(json -> addedToken(json, 1).put("lstrip", true))
                .startsWith("invalid tokenizer.json: \"added_tokens\"[1] (\"<|im_end|>\") has lstrip = true; only false is supported"));
        assertEquals("invalid tokenizer.json: \"added_tokens\"[1] (\"<|im_end|>\") has id 5, which is already a regular"
                + " token (model.vocab has ids 0..256)", loadError(json -> addedToken(json, 1).put("id", 5)));
        assertEquals("invalid tokenizer.json: \"added_tokens\"[1] (\"<|im_end|>\") has id 257, already used by \"<|im_start|>\"",
                loadError(json -> addedToken(json, 1).put("id", 257)));
    }

    @Test
    void tokenizersThatCannotEncodeEveryTextOrLackTheChatTokensAreRejected() throws IOException {
        Map<String, Object> noByte = tokenizerJson(List.of(), List.of());
        Map<String, Object> vocab = vocab(noByte);
        vocab.remove(String.valueOf(ByteLevel.charOf(0xFF)));
        vocab.put("ab", 255);
        String message = loadError(Json.write(noByte));
        assertEquals("the vocabulary has no token for the single byte 0xff (\"" + ByteLevel.charOf(0xFF)
                + "\"), so not every text can be encoded", message);

        assertEquals("not a Qwen3 tokenizer: it has no added token <|im_start|>, which the chat template needs",
                loadError(Json.write(tokenizerJson(List.of(), List.of(), List.of("<|im_end|>")))));

        Map<String, Object> badRegex = tokenizerJson(List.of(), List.of());
        setRegex(badRegex, "(unclosed");
        assertTrue(loadError(Json.write(badRegex)).startsWith("the pre-tokenizer regex does not compile: "));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> vocab(Map<String, Object> json) {
        return (Map<String, Object>) model(json).get("vocab");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> addedToken(Map<String, Object> json, int index) {
        return ((List<Map<String, Object>>) json.get("added_tokens")).get(index);
    }
}
