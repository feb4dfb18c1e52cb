package io.github.zimage4j.tokenizer;

import io.github.zimage4j.io.ModelFileException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.Arrays;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The Qwen3 tokenizer (byte-level BPE), reproducing Hugging Face {@code tokenizers} exactly, and the
 * prompt encoding of the Z-Image pipeline.
 *
 * <p>Encoding, in the reference's order:
 * <ol>
 *   <li>Added tokens (all of them, special or not: {@code <|im_start|>}, {@code <think>}, ...) are found
 *       in the raw text first, literally and case-sensitively, leftmost then longest. Each becomes its id;
 *       spaces next to them stay separate text.</li>
 *   <li>Each stretch of text between them is NFC-normalized and split by the pre-tokenizer regex. Every
 *       match is its own piece, and so would be any text between matches.</li>
 *   <li>Each piece is turned into UTF-8 bytes and BPE-merged ({@link BytePairEncoder}).</li>
 * </ol>
 * The regex is written for Oniguruma; Java runs it unchanged with {@link Pattern#UNICODE_CHARACTER_CLASS},
 * which gives the same meaning to the constructs Qwen's pattern uses: {@code \s} is Unicode White_Space
 * (so U+00A0, U+2007, U+202F and U+3000 are spaces, and U+001C..U+001F, U+200B and U+FEFF are not,
 * unlike {@link Character#isWhitespace}); {@code \p{L}}/{@code \p{N}} are the general categories, from
 * the JDK's Unicode 16 data; and the flag implies Unicode case folding, so {@code (?i:'s)} also matches
 * {@code 'S} and {@code 'ſ} (U+017F) as the reference does. The golden cases and the unit tests check
 * this.
 *
 * <p>NFC comes from the JDK (Unicode 16 data). The reference's normalization tables
 * ({@code unicode-normalization-alignments}) are older; that could only matter for the few characters
 * given canonical decompositions in recent Unicode versions (such as some Kirat Rai and Tulu-Tigalari
 * vowel signs), which no golden case holds.
 *
 * <p>Input must be well-formed UTF-16: text with an unpaired surrogate is rejected with an
 * {@link IllegalArgumentException} that gives its position. It is not valid Unicode and the reference
 * (which takes Rust strings) cannot be given it either, so there is no reference answer to repair
 * towards; callers holding such text can decide themselves, e.g. replace it with U+FFFD.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Qwen3Tokenizer {

    /** The Z-Image pipeline's {@code max_sequence_length}. */
    public static final int DEFAULT_MAX_SEQUENCE_LENGTH = 512;

    static final String BUNDLED_RESOURCE = "qwen3-tokenizer.bin.gz";
    private static final String CHAT_PREFIX = "<|im_start|>user\n";
    private static final String CHAT_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n";
    private static final System.Logger LOG = System.getLogger(Qwen3Tokenizer.class.getName());

    private final String source;
    private final Pattern split;
    private final boolean nfc;
    private final AddedTokenMatcher addedTokens;
    private final BytePairEncoder bpe;
    /** The UTF-8 bytes of every id (added tokens: their content); null where an id is not used. */
    private final byte[][] tokenBytes;

    private Qwen3Tokenizer(String source, Pattern split, boolean nfc, AddedTokenMatcher addedTokens,
                           BytePairEncoder bpe, byte[][] tokenBytes) {
        this.source = source;
        this.split = split;
        this.nfc = nfc;
        this.addedTokens = addedTokens;
        this.bpe = bpe;
        this.tokenBytes = tokenBytes;
    }

    /**
     * Loads a Hugging Face {@code tokenizer.json}: the file itself, or a folder holding it directly or in a
     * {@code tokenizer/} subfolder (a diffusers checkpoint). A file this class cannot reproduce exactly is
     * rejected with a {@link ModelFileException} naming the file and what is wrong.
     */
    public static Qwen3Tokenizer load(Path tokenizerJsonOrFolder) throws IOException {
        Path file = tokenizerJsonOrFolder;
        if (Files.isDirectory(file)) {
            file = tokenizerJsonIn(tokenizerJsonOrFolder);
            if (file == null) {
                throw new ModelFileException(tokenizerJsonOrFolder + ": no tokenizer.json in this folder or in its tokenizer/ subfolder");
            }
        } else if (!Files.isRegularFile(file)) {
            throw new ModelFileException(file + ": no such file (expected a tokenizer.json or a folder holding one)");
        }
        if (isBundledSource(file)) {
            // The published Z-Image tokenizer.json is the upstream Qwen3 file the bundled data was made from:
            // its compact form loads in a third of the time of parsing 11 MB of JSON.
            return of(bundledData(), file.toString());
        }
        return parse(file);
    }

    /** Parses a tokenizer.json (no shortcut for the bundled file's bytes). */
    static Qwen3Tokenizer parse(Path file) throws IOException {
        return of(TokenizerJsonReader.read(file), file.toString());
    }

    /** Size and SHA-256 of the upstream Qwen3 tokenizer.json the bundled resource holds (see its NOTICE). */
    static final long BUNDLED_SOURCE_SIZE = 11_422_654L;
    static final String BUNDLED_SOURCE_SHA256 = "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4";

    private static boolean isBundledSource(Path file) throws IOException {
        if (Files.size(file) != BUNDLED_SOURCE_SIZE) {
            return false;
        }
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
            // Hashing the mapped file is several times faster than reading 11 MB into a new array.
            java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            md.update(ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, ch.size()));
            return java.util.HexFormat.of().formatHex(md.digest()).equals(BUNDLED_SOURCE_SHA256);
        } catch (java.security.NoSuchAlgorithmException e) {
            return false;
        }
    }

    /**
     * The Qwen3 tokenizer bundled with this library (the upstream Qwen3 {@code tokenizer.json} data,
     * Apache-2.0, see the NOTICE next to the resource), for checkpoints that come without one. Each call
     * reads the resource again; keep the instance.
     */
    public static Qwen3Tokenizer bundled() {
        String name = Qwen3Tokenizer.class.getPackageName().replace('.', '/') + "/" + BUNDLED_RESOURCE;
        try {
            return of(bundledData(), "bundled " + name);
        } catch (ModelFileException e) {
            throw new IllegalStateException("the bundled tokenizer resource " + name + " is inconsistent: " + e.getMessage(), e);
        }
    }

    private static TokenizerData bundledData() {
        String name = Qwen3Tokenizer.class.getPackageName().replace('.', '/') + "/" + BUNDLED_RESOURCE;
        try (InputStream in = Qwen3Tokenizer.class.getResourceAsStream(BUNDLED_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the bundled tokenizer resource " + name + " is missing from the class path");
            }
            return CompactTokenizerFile.read(in, "bundled " + name);
        } catch (IOException e) {
            throw new UncheckedIOException("the bundled tokenizer resource " + name + " is unreadable: " + e.getMessage(), e);
        }
    }

    /**
     * The tokenizer for a checkpoint: its own {@code tokenizer.json} when {@code checkpoint} is a folder
     * holding one (directly or in {@code tokenizer/}), otherwise (a single-file ComfyUI or GGUF checkpoint,
     * or a folder without one) the {@linkplain #bundled() bundled} Qwen3 tokenizer.
     */
    public static Qwen3Tokenizer forCheckpoint(Path checkpoint) throws IOException {
        Path file = Files.isDirectory(checkpoint) ? tokenizerJsonIn(checkpoint) : null;
        if (file != null) {
            return load(file);
        }
        LOG.log(System.Logger.Level.INFO, () -> checkpoint + " has no tokenizer.json; using the bundled Qwen3 tokenizer");
        return bundled();
    }

    /** The tokenizer.json in a folder or in its tokenizer/ subfolder, or null. */
    private static Path tokenizerJsonIn(Path folder) {
        for (Path file : new Path[] {folder.resolve("tokenizer.json"), folder.resolve("tokenizer").resolve("tokenizer.json")}) {
            if (Files.isRegularFile(file)) {
                return file;
            }
        }
        return null;
    }

    static Qwen3Tokenizer of(TokenizerData data, String source) throws ModelFileException {
        Pattern split;
        try {
            split = Pattern.compile(data.splitRegex(), Pattern.UNICODE_CHARACTER_CLASS);
        } catch (PatternSyntaxException e) {
            throw new ModelFileException(source + ": the pre-tokenizer regex does not compile: " + e.getMessage(), e);
        }
        byte[][] vocab = data.vocab();
        int[] byteToId = new int[256];
        Arrays.fill(byteToId, -1);
        for (int id = 0; id < vocab.length; id++) {
            if (vocab[id].length == 1) {
                byteToId[vocab[id][0] & 0xFF] = id;
            }
        }
        for (int b = 0; b < 256; b++) {
            if (byteToId[b] < 0) {
                throw new ModelFileException(source + ": the vocabulary has no token for the single byte 0x"
                        + Integer.toHexString(b) + " (\"" + ByteLevel.charOf(b) + "\"), so not every text can be encoded");
            }
        }
        int size = vocab.length;
        for (TokenizerData.AddedToken t : data.addedTokens()) {
            size = Math.max(size, t.id() + 1);
        }
        byte[][] tokenBytes = Arrays.copyOf(vocab, size);
        for (TokenizerData.AddedToken t : data.addedTokens()) {
            tokenBytes[t.id()] = t.content().getBytes(StandardCharsets.UTF_8);
        }
        for (String needed : new String[] {"<|im_start|>", "<|im_end|>"}) {
            if (data.addedTokens().stream().noneMatch(t -> t.content().equals(needed))) {
                throw new ModelFileException(source + ": not a Qwen3 tokenizer: it has no added token " + needed
                        + ", which the chat template needs");
            }
        }
        return new Qwen3Tokenizer(source, split, data.nfc(), new AddedTokenMatcher(data.addedTokens()),
                new BytePairEncoder(byteToId, data.mergeLeft(), data.mergeRight(), data.mergeResult()), tokenBytes);
    }

    /** Where this tokenizer was loaded from: a file path, or "bundled ..." for the bundled resource. */
    public String source() {
        return source;
    }

    /** The number of token ids (the highest id + 1): 151,669 for Qwen3. */
    public int vocabSize() {
        return tokenBytes.length;
    }

    /**
     * The ids of {@code text}, like the reference's {@code encode(text, add_special_tokens=False)} (for
     * Qwen3 the same as with {@code True}: no BOS or EOS is added). Added tokens written in the text,
     * such as {@code <|im_end|>}, become their ids.
     *
     * @throws IllegalArgumentException if the text has an unpaired surrogate
     */
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text to tokenize is null");
        requireWellFormed(text, "text");
        IntList out = new IntList(text.length() / 2 + 16);
        int start = 0;
        for (AddedTokenMatcher.Match m = addedTokens.find(text, 0); m != null; m = addedTokens.find(text, m.end())) {
            encodeOrdinary(text.substring(start, m.start()), out);
            out.add(m.id());
            start = m.end();
        }
        encodeOrdinary(text.substring(start), out);
        return out.toArray();
    }

    private void encodeOrdinary(String segment, IntList out) {
        if (segment.isEmpty()) {
            return;
        }
        String text = nfc ? Normalizer.normalize(segment, Normalizer.Form.NFC) : segment;
        Matcher m = split.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) {
                out.addAll(bpe.encode(text.substring(last, m.start())));
            }
            if (m.end() > m.start()) {
                out.addAll(bpe.encode(text.substring(m.start(), m.end())));
            }
            last = m.end();
        }
        if (last < text.length()) {
            out.addAll(bpe.encode(text.substring(last)));
        }
    }

    /**
     * The text of some ids, like the reference's {@code decode(ids, skip_special_tokens=False)}: the
     * tokens' bytes joined (an added token: its text), then UTF-8 decoded, each ill-formed part becoming
     * U+FFFD. Unlike the reference, which skips ids it does not know, an unknown id is an error.
     *
     * @throws IllegalArgumentException if an id is not a token of this tokenizer
     */
    public String decode(int[] ids) {
        Objects.requireNonNull(ids, "ids to decode are null");
        int length = 0;
        for (int i = 0; i < ids.length; i++) {
            int id = ids[i];
            if (id < 0 || id >= tokenBytes.length || tokenBytes[id] == null) {
                throw new IllegalArgumentException("ids[" + i + "] = " + id + " is not a token id of this tokenizer"
                        + " (0.." + (tokenBytes.length - 1) + ")");
            }
            length += tokenBytes[id].length;
        }
        byte[] bytes = new byte[length];
        int at = 0;
        for (int id : ids) {
            System.arraycopy(tokenBytes[id], 0, bytes, at, tokenBytes[id].length);
            at += tokenBytes[id].length;
        }
        return Utf8.decodeLossy(bytes, length);
    }

    /**
     * The chat text Z-Image feeds its text encoder for one prompt: what the Qwen3 chat template renders for
     * a single user message with {@code add_generation_prompt=True} and {@code enable_thinking=True} (no
     * system message, no {@code <think>} block).
     */
    public static String chatText(String prompt) {
        Objects.requireNonNull(prompt, "prompt is null; use \"\" for an empty (e.g. negative) prompt");
        return CHAT_PREFIX + prompt + CHAT_SUFFIX;
    }

    /** {@link #chatIds(String, int)} with the pipeline's default {@value #DEFAULT_MAX_SEQUENCE_LENGTH}. */
    public PromptTokens chatIds(String prompt) {
        return chatIds(prompt, DEFAULT_MAX_SEQUENCE_LENGTH);
    }

    /**
     * The ids Z-Image's text encoder reads for a prompt: the whole {@linkplain #chatText chat text}
     * tokenized at once (a prompt starting with a newline merges with the template's, so this is not
     * prefix ids + prompt ids + suffix ids), then right-truncated to {@code maxSequenceLength} as the
     * pipeline does; a truncation is logged with the number of tokens dropped. Added tokens written in the
     * prompt (such as {@code <|im_end|>}) become their ids, as in the Python pipeline. Padding is left to
     * the caller: the encoder's output at real tokens does not depend on it.
     *
     * @throws IllegalArgumentException if {@code maxSequenceLength < 1} or the prompt has an unpaired
     *                                  surrogate
     */
    public PromptTokens chatIds(String prompt, int maxSequenceLength) {
        String chat = chatText(prompt);
        if (maxSequenceLength < 1) {
            throw new IllegalArgumentException("max_sequence_length must be at least 1 but is " + maxSequenceLength);
        }
        requireWellFormed(prompt, "prompt");
        int[] ids = encode(chat);
        if (ids.length <= maxSequenceLength) {
            return new PromptTokens(ids, 0);
        }
        int dropped = ids.length - maxSequenceLength;
        LOG.log(System.Logger.Level.WARNING, () -> "prompt is " + ids.length + " tokens in its chat template, more than"
                + " max_sequence_length " + maxSequenceLength + ": the last " + dropped + " tokens are dropped");
        return new PromptTokens(Arrays.copyOf(ids, maxSequenceLength), dropped);
    }

    private static void requireWellFormed(String text, String what) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException(String.format("the %s has an unpaired surrogate U+%04X at index %d;"
                        + " it is not valid Unicode and cannot be tokenized (replace it, e.g. with U+FFFD)", what, (int) c, i));
            }
        }
    }

    /** A growable int array. */
    private static final class IntList {
        private int[] a;
        private int size;

        IntList(int capacity) {
            a = new int[capacity];
        }

        void add(int v) {
            if (size == a.length) {
                a = Arrays.copyOf(a, size * 2);
            }
            a[size++] = v;
        }

        void addAll(int[] vs) {
            if (size + vs.length > a.length) {
                a = Arrays.copyOf(a, Math.max(size + vs.length, size * 2));
            }
            System.arraycopy(vs, 0, a, size, vs.length);
            size += vs.length;
        }

        int[] toArray() {
            return Arrays.copyOf(a, size);
        }
    }
}
