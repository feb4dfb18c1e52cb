package io.github.zimage4j.tokenizer;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.ModelFileException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads a Hugging Face {@code tokenizer.json} (byte-level BPE) into {@link TokenizerData}, checking that it
 * describes a tokenizer this package reproduces exactly; anything else is rejected with a message that
 * names the file, the key and what was found.
 *
 * <p>The file is about 11 MB, almost all of it {@code model.vocab} (151,643 entries) and
 * {@code model.merges} (151,387 pairs). Building a generic JSON tree of that with {@link Json} takes
 * 200-900 ms, and a first version of this reader that decoded the file to a {@code String} and hashed
 * 151k token strings was still 3-5 times slower than this one, so the UTF-8 bytes are parsed directly:
 * vocabulary and merge strings are decoded
 * straight from the byte-level alphabet to token bytes and looked up in a byte-keyed table, without a
 * {@code String} per token. The small sections (normalizer, pre-tokenizer, decoder, added tokens, model
 * options) are cut out whole and given to {@link Json}.
 */
final class TokenizerJsonReader {

    private final String file;
    private final byte[] s;
    private int pos;
    /** The token bytes of the last {@link #readTokenString()}. */
    private byte[] scratch = new byte[256];
    /** What the last {@link #readTokenString()} found besides alphabet characters. */
    private int spaces;
    private int spaceAt;
    private boolean foreign;

    private TokenizerJsonReader(String file, byte[] bytes) {
        this.file = file;
        this.s = bytes;
    }

    static TokenizerData read(Path file) throws IOException {
        return new TokenizerJsonReader(file.toString(), bytesOf(file)).read();
    }

    private TokenizerData read() throws ModelFileException {
        Map<String, Object> sections = new HashMap<>();
        Map<String, Object> modelOptions = new HashMap<>();
        TokenTable vocab = null;
        Merges merges = null;
        int mergesAt = -1;

        skipWs();
        if (pos >= s.length || s[pos] != '{') {
            throw syntaxError("not a tokenizer.json: expected a JSON object at the top level");
        }
        Set<String> seen = new HashSet<>();
        if (beginObject()) {
            do {
                int keyAt = pos;
                String key = memberKey();
                if (!seen.add(key)) {
                    pos = keyAt;
                    throw syntaxError("the key \"" + key + "\" appears twice");
                }
                if (!key.equals("model")) {
                    sections.put(key, smallValue());
                    continue;
                }
                if (!beginObjectOrFail("\"model\" should be an object")) {
                    continue;
                }
                Set<String> seenInModel = new HashSet<>();
                do {
                    keyAt = pos;
                    String mkey = memberKey();
                    if (!seenInModel.add(mkey)) {
                        pos = keyAt;
                        throw syntaxError("the key \"model." + mkey + "\" appears twice");
                    }
                    switch (mkey) {
                        case "vocab" -> vocab = readVocab();
                        case "merges" -> {
                            if (vocab != null) {
                                merges = readMerges(vocab);
                            } else {
                                // The vocab comes later in the object: come back for the merges then.
                                mergesAt = pos;
                                skipValue();
                            }
                        }
                        default -> modelOptions.put(mkey, smallValue());
                    }
                } while (moreMembers());
            } while (moreMembers());
        }
        skipWs();
        if (pos != s.length) {
            throw syntaxError("unexpected content after the top-level object");
        }

        if (!seen.contains("model")) {
            throw invalid("not a tokenizer.json: it has no \"model\"");
        }
        checkModelOptions(modelOptions);
        checkDecoderAndPostProcessor(sections.get("decoder"), sections.get("post_processor"));
        if (vocab == null) {
            throw invalid("\"model\" has no \"vocab\"");
        }
        if (merges == null && mergesAt < 0) {
            throw invalid("\"model\" has no \"merges\"");
        }
        byte[][] tokens = vocab.tokensWithoutGaps();
        if (merges == null) {
            pos = mergesAt;
            merges = readMerges(vocab);
        }
        return new TokenizerData(splitRegex(sections.get("pre_tokenizer")), nfc(sections.get("normalizer")),
                tokens, merges.left, merges.right, merges.result,
                addedTokens(sections.get("added_tokens"), tokens.length));
    }

    // ---- the big sections, streamed ----

    /**
     * Vocabulary tokens by their bytes and by id: open addressing on the bytes, with each slot's hash kept
     * so that probing rarely touches the tokens themselves.
     */
    private final class TokenTable {
        private byte[][] byId;
        /** Per slot: the token's hash in the high half, id + 1 in the low half; 0 is empty. */
        private long[] slots;
        private int count;
        private int maxId = -1;

        /** @param expected roughly how many tokens will come; the table grows beyond it as needed */
        TokenTable(int expected) {
            expected = Math.max(1 << 10, expected);
            // At most 3/4 full: with the hashes in the slots, probing stays cheap, and a smaller table
            // stays in cache better (lookups are the bulk of the work).
            slots = new long[Integer.highestOneBit(expected * 4 / 3 - 1) * 2];
            byId = new byte[expected][];
        }

        int find(byte[] key, int from, int length) {
            int hash = hash(key, from, length);
            int mask = slots.length - 1;
            for (int i = hash & mask; ; i = (i + 1) & mask) {
                long slot = slots[i];
                if (slot == 0) {
                    return -1;
                }
                if ((int) (slot >>> 32) == hash) {
                    byte[] t = byId[(int) slot - 1];
                    if (Arrays.equals(t, 0, t.length, key, from, from + length)) {
                        return (int) slot - 1;
                    }
                }
            }
        }

        /** Whether {@code id} is the token {@code key[0..length)}. */
        boolean is(int id, byte[] key, int length) {
            if (id < 0 || id >= byId.length || byId[id] == null) {
                return false;
            }
            return Arrays.equals(byId[id], 0, byId[id].length, key, 0, length);
        }

        /** The id of a token given as a byte-level string, or -1 (for error messages). */
        int find(String token) {
            byte[] bytes = new byte[token.length()];
            for (int i = 0; i < bytes.length; i++) {
                int b = ByteLevel.byteOf(token.charAt(i));
                if (b < 0) {
                    return -1;
                }
                bytes[i] = (byte) b;
            }
            return find(bytes, 0, bytes.length);
        }

        /** Adds a token not in the table yet; fails when its id is taken. */
        void add(byte[] token, int id) throws ModelFileException {
            if (id >= byId.length) {
                byId = Arrays.copyOf(byId, Math.max(id + 1, byId.length * 2));
            }
            if (byId[id] != null) {
                throw invalid("\"model.vocab\" gives id " + id + " to both \"" + ByteLevel.stringOf(byId[id])
                        + "\" and \"" + ByteLevel.stringOf(token) + "\"");
            }
            byId[id] = token;
            maxId = Math.max(maxId, id);
            if (++count * 4 > slots.length * 3) {
                long[] old = slots;
                slots = new long[old.length * 2];
                for (long slot : old) {
                    if (slot != 0) {
                        place(slot);
                    }
                }
            }
            place(((long) hash(token, 0, token.length) << 32) | (id + 1));
        }

        private void place(long slot) {
            int mask = slots.length - 1;
            int i = (int) (slot >>> 32) & mask;
            while (slots[i] != 0) {
                i = (i + 1) & mask;
            }
            slots[i] = slot;
        }

        byte[][] tokensWithoutGaps() throws ModelFileException {
            if (maxId != count - 1) {
                throw invalid("\"model.vocab\" should number its " + count + " tokens 0.." + (count - 1)
                        + " without gaps, but \"" + ByteLevel.stringOf(byId[maxId]) + "\" has id " + maxId);
            }
            return Arrays.copyOf(byId, count);
        }

        private static int hash(byte[] b, int from, int length) {
            int h = 0x811C9DC5;
            for (int i = from; i < from + length; i++) {
                h = (h ^ b[i]) * 0x01000193;
            }
            return h ^ (h >>> 15);
        }
    }

    private TokenTable readVocab() throws ModelFileException {
        // A tokenizer.json spends about 75 bytes of the file per vocabulary token (the entry and its merge).
        TokenTable table = new TokenTable(s.length / 64);
        if (!beginObjectOrFail("\"model.vocab\" should be an object of token -> id")) {
            return table;
        }
        do {
            skipWs();
            int at = pos;
            int n = readTokenString();
            skipWs();
            expect(':');
            skipWs();
            int id = readInt("the id of a \"model.vocab\" token");
            if (foreign || spaces > 0 || n == 0) {
                pos = at;
                throw syntaxError("\"model.vocab\" token \"" + readString() + "\" (id " + id + ") is not a byte-level"
                        + " BPE token: it is empty or has characters outside the GPT-2 byte alphabet");
            }
            if (id < 0) {
                throw syntaxError("a \"model.vocab\" id is negative");
            }
            if (table.find(scratch, 0, n) >= 0) {
                pos = at;
                throw syntaxError("\"model.vocab\" has the token \"" + readString() + "\" twice");
            }
            table.add(Arrays.copyOf(scratch, n), id);
        } while (moreMembers());
        return table;
    }

    private record Merges(int[] left, int[] right, int[] result) {
    }

    private Merges readMerges(TokenTable vocab) throws ModelFileException {
        int[] left = new int[1 << 10];
        int[] right = new int[left.length];
        int[] result = new int[left.length];
        int count = 0;
        byte[] pair = new byte[256];
        skipWs();
        if (pos >= s.length || s[pos] != '[') {
            throw syntaxError("\"model.merges\" should be a list of merges");
        }
        if (beginArray()) {
            do {
                skipWs();
                int at = pos;
                int leftLength;
                int length;
                boolean leftBad;
                boolean rightBad;
                if (pos < s.length && s[pos] == '[') {
                    pos++;
                    skipWs();
                    leftLength = readTokenString();
                    leftBad = foreign || spaces > 0;
                    pair = copyInto(pair, 0, leftLength);
                    skipWs();
                    expect(',');
                    skipWs();
                    int rightLength = readTokenString();
                    rightBad = foreign || spaces > 0;
                    pair = copyInto(pair, leftLength, rightLength);
                    length = leftLength + rightLength;
                    skipWs();
                    expect(']');
                } else if (pos < s.length && s[pos] == '"') {
                    length = readTokenString();
                    if (spaces != 1 || spaceAt == 0 || spaceAt == length) {
                        pos = at;
                        throw syntaxError("merge #" + count + " \"" + readString() + "\" should be two tokens separated by one space");
                    }
                    leftBad = foreign;
                    rightBad = foreign;
                    leftLength = spaceAt;
                    pair = copyInto(pair, 0, length);
                } else {
                    throw syntaxError("merge #" + count + " should be [\"left\", \"right\"] or \"left right\"");
                }
                int l = leftBad ? -1 : vocab.find(pair, 0, leftLength);
                int r = rightBad ? -1 : vocab.find(pair, leftLength, length - leftLength);
                // Merges are usually listed in the order their results were added to the vocabulary, so
                // the token after the last result is tried before a hash lookup.
                int hint = count == 0 ? -1 : result[count - 1] + 1;
                int m = leftBad || rightBad ? -1 : vocab.is(hint, pair, length) ? hint : vocab.find(pair, 0, length);
                if (l < 0 || r < 0 || m < 0) {
                    pos = at;
                    String[] names = mergeStrings();
                    String missing = vocab.find(names[0]) < 0 ? names[0] : vocab.find(names[1]) < 0 ? names[1] : names[0] + names[1];
                    pos = at;
                    throw syntaxError("merge #" + count + " (\"" + names[0] + "\", \"" + names[1] + "\") needs \"" + missing
                            + "\", which is not in \"model.vocab\"");
                }
                if (count == left.length) {
                    left = Arrays.copyOf(left, count * 2);
                    right = Arrays.copyOf(right, count * 2);
                    result = Arrays.copyOf(result, count * 2);
                }
                left[count] = l;
                right[count] = r;
                result[count] = m;
                count++;
            } while (moreElements());
        }
        return new Merges(Arrays.copyOf(left, count), Arrays.copyOf(right, count), Arrays.copyOf(result, count));
    }

    /** {@code scratch[0..length)} copied to {@code to[at..]}, growing it as needed. */
    private byte[] copyInto(byte[] to, int at, int length) {
        byte[] out = at + length <= to.length ? to : Arrays.copyOf(to, 2 * (at + length));
        System.arraycopy(scratch, 0, out, at, length);
        return out;
    }

    /** The two token strings of the merge at the current position (for error messages). */
    private String[] mergeStrings() throws ModelFileException {
        if (s[pos] == '[') {
            pos++;
            skipWs();
            String left = readString();
            skipWs();
            expect(',');
            skipWs();
            return new String[] {left, readString()};
        }
        String both = readString();
        int space = both.indexOf(' ');
        return new String[] {both.substring(0, space), both.substring(space + 1)};
    }

    /**
     * Reads a JSON string of byte-level alphabet characters into {@link #scratch} as the bytes they stand
     * for and returns their number. Spaces (never in the alphabet; they separate legacy merge pairs) and
     * other characters outside it are not stored but noted in {@link #spaces}, {@link #spaceAt} and
     * {@link #foreign}.
     */
    private int readTokenString() throws ModelFileException {
        if (pos >= s.length || s[pos] != '"') {
            throw syntaxError("expected a string");
        }
        pos++;
        spaces = 0;
        spaceAt = -1;
        foreign = false;
        int n = 0;
        while (true) {
            if (pos >= s.length) {
                throw syntaxError("unterminated string");
            }
            int b = s[pos] & 0xFF;
            int c;
            if (b == '"') {
                pos++;
                return n;
            } else if (b == '\\') {
                c = escape();
            } else if (b < 0x20) {
                throw syntaxError("control character in a string");
            } else if (b < 0x80) {
                c = b;
                pos++;
            } else {
                c = utf8CodePoint();
            }
            int mapped = ByteLevel.byteOf(c);
            if (c == ' ') {
                spaces++;
                spaceAt = n;
            } else if (mapped < 0) {
                foreign = true;
            } else {
                if (n == scratch.length) {
                    scratch = Arrays.copyOf(scratch, n * 2);
                }
                scratch[n++] = (byte) mapped;
            }
        }
    }

    // ---- a small validating JSON cursor over UTF-8 bytes ----

    private Object smallValue() throws ModelFileException {
        int start = pos;
        skipValue();
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(s, start, pos - start)).toString();
        } catch (CharacterCodingException e) {
            pos = start;
            throw syntaxError("the value is not UTF-8 text");
        }
        try {
            return Json.parse(text);
        } catch (Json.JsonException e) {
            pos = start;
            throw syntaxError("invalid value (" + e.getMessage() + " within it)");
        }
    }

    /** Consumes '{'; false for an empty object. */
    private boolean beginObject() throws ModelFileException {
        expect('{');
        skipWs();
        if (pos < s.length && s[pos] == '}') {
            pos++;
            return false;
        }
        return true;
    }

    private boolean beginObjectOrFail(String what) throws ModelFileException {
        skipWs();
        if (pos >= s.length || s[pos] != '{') {
            throw syntaxError(what);
        }
        return beginObject();
    }

    private String memberKey() throws ModelFileException {
        skipWs();
        if (pos >= s.length || s[pos] != '"') {
            throw syntaxError("expected a string key");
        }
        String key = readString();
        skipWs();
        expect(':');
        skipWs();
        return key;
    }

    private boolean moreMembers() throws ModelFileException {
        skipWs();
        if (pos < s.length) {
            byte c = s[pos++];
            if (c == ',') {
                return true;
            }
            if (c == '}') {
                return false;
            }
            pos--;
        }
        throw syntaxError("expected ',' or '}'");
    }

    private boolean beginArray() throws ModelFileException {
        expect('[');
        skipWs();
        if (pos < s.length && s[pos] == ']') {
            pos++;
            return false;
        }
        return true;
    }

    private boolean moreElements() throws ModelFileException {
        skipWs();
        if (pos < s.length) {
            byte c = s[pos++];
            if (c == ',') {
                return true;
            }
            if (c == ']') {
                return false;
            }
            pos--;
        }
        throw syntaxError("expected ',' or ']'");
    }

    private void skipValue() throws ModelFileException {
        skipWs();
        if (pos >= s.length) {
            throw syntaxError("unexpected end of file");
        }
        byte c = s[pos];
        switch (c) {
            case '{' -> {
                if (beginObject()) {
                    do {
                        memberKey();
                        skipValue();
                    } while (moreMembers());
                }
            }
            case '[' -> {
                if (beginArray()) {
                    do {
                        skipValue();
                    } while (moreElements());
                }
            }
            case '"' -> skipString();
            case 't' -> literal("true");
            case 'f' -> literal("false");
            case 'n' -> literal("null");
            default -> {
                if (c == '-' || (c >= '0' && c <= '9')) {
                    skipNumber();
                } else {
                    throw syntaxError("unexpected character '" + (char) (c & 0xFF) + "'");
                }
            }
        }
    }

    private void literal(String word) throws ModelFileException {
        for (int i = 0; i < word.length(); i++) {
            if (pos + i >= s.length || s[pos + i] != word.charAt(i)) {
                throw syntaxError("expected '" + word + "'");
            }
        }
        pos += word.length();
    }

    private void skipNumber() throws ModelFileException {
        if (s[pos] == '-') {
            pos++;
        }
        if (pos < s.length && s[pos] == '0') {
            pos++;
        } else if (digits() == 0) {
            throw syntaxError("bad number");
        }
        if (pos < s.length && s[pos] == '.') {
            pos++;
            if (digits() == 0) {
                throw syntaxError("bad number");
            }
        }
        if (pos < s.length && (s[pos] == 'e' || s[pos] == 'E')) {
            pos++;
            if (pos < s.length && (s[pos] == '+' || s[pos] == '-')) {
                pos++;
            }
            if (digits() == 0) {
                throw syntaxError("bad number");
            }
        }
    }

    private int digits() {
        int start = pos;
        while (pos < s.length && s[pos] >= '0' && s[pos] <= '9') {
            pos++;
        }
        return pos - start;
    }

    private int readInt(String what) throws ModelFileException {
        int start = pos;
        boolean negative = pos < s.length && s[pos] == '-';
        if (negative) {
            pos++;
        }
        int digitsAt = pos;
        long v = 0;
        while (pos < s.length && s[pos] >= '0' && s[pos] <= '9') {
            v = v * 10 + (s[pos++] - '0');
            if (v > Integer.MAX_VALUE) {
                pos = start;
                throw syntaxError(what + " should be an integer but is too large");
            }
        }
        byte after = pos < s.length ? s[pos] : (byte) ' ';
        if (pos == digitsAt || after == '.' || after == 'e' || after == 'E') {
            pos = start;
            throw syntaxError(what + " should be an integer");
        }
        return (int) (negative ? -v : v);
    }

    /** A string, decoded (keys and error messages; tokens go through {@link #readTokenString()}). */
    private String readString() throws ModelFileException {
        if (pos >= s.length || s[pos] != '"') {
            throw syntaxError("expected a string");
        }
        pos++;
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos >= s.length) {
                throw syntaxError("unterminated string");
            }
            int b = s[pos] & 0xFF;
            if (b == '"') {
                pos++;
                return sb.toString();
            } else if (b == '\\') {
                sb.append((char) escape());
            } else if (b < 0x20) {
                throw syntaxError("control character in a string");
            } else if (b < 0x80) {
                sb.append((char) b);
                pos++;
            } else {
                sb.appendCodePoint(utf8CodePoint());
            }
        }
    }

    /** The character of the escape at the current backslash (a \\u escape may be half a surrogate pair). */
    private int escape() throws ModelFileException {
        if (pos + 1 >= s.length) {
            throw syntaxError("unterminated string");
        }
        byte e = s[pos + 1];
        pos += 2;
        switch (e) {
            case '"', '\\', '/':
                return e;
            case 'b':
                return '\b';
            case 'f':
                return '\f';
            case 'n':
                return '\n';
            case 'r':
                return '\r';
            case 't':
                return '\t';
            case 'u':
                if (pos + 4 > s.length) {
                    throw syntaxError("truncated \\u escape");
                }
                int v = 0;
                for (int i = 0; i < 4; i++) {
                    int d = Character.digit(s[pos + i], 16);
                    if (d < 0) {
                        throw syntaxError("bad \\u escape");
                    }
                    v = v * 16 + d;
                }
                pos += 4;
                return v;
            default:
                pos -= 2;
                throw syntaxError("bad escape '\\" + (char) (e & 0xFF) + "'");
        }
    }

    /** Decodes the UTF-8 sequence at the current (non-ASCII) byte; ill-formed UTF-8 is an error. */
    private int utf8CodePoint() throws ModelFileException {
        int b0 = s[pos] & 0xFF;
        int trailing;
        int cp;
        int min;
        if (b0 >= 0xC2 && b0 <= 0xDF) {
            trailing = 1;
            cp = b0 & 0x1F;
            min = 0x80;
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
            trailing = 2;
            cp = b0 & 0x0F;
            min = 0x800;
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            trailing = 3;
            cp = b0 & 0x07;
            min = 0x10000;
        } else {
            throw syntaxError("the file is not UTF-8 text");
        }
        for (int k = 1; k <= trailing; k++) {
            if (pos + k >= s.length || (s[pos + k] & 0xC0) != 0x80) {
                throw syntaxError("the file is not UTF-8 text");
            }
            cp = (cp << 6) | (s[pos + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            throw syntaxError("the file is not UTF-8 text");
        }
        pos += trailing + 1;
        return cp;
    }

    private void skipString() throws ModelFileException {
        pos++;
        while (pos < s.length) {
            byte c = s[pos];
            if (c == '"') {
                pos++;
                return;
            }
            if (c >= 0 && c < 0x20) {
                throw syntaxError("control character in a string");
            }
            if (c == '\\') {
                escape();
            } else {
                pos++; // a UTF-8 continuation byte is never '"' or '\\', so bytes can be skipped one by one
            }
        }
        throw syntaxError("unterminated string");
    }

    private void expect(char c) throws ModelFileException {
        if (pos >= s.length || s[pos] != c) {
            throw syntaxError("expected '" + c + "'");
        }
        pos++;
    }

    private void skipWs() {
        while (pos < s.length) {
            byte c = s[pos];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                return;
            }
            pos++;
        }
    }

    // ---- errors ----

    /** A problem at the current position: the message gets the line and column (in characters). */
    private ModelFileException syntaxError(String what) {
        int end = Math.min(pos, s.length);
        int line = 1;
        int col = 1;
        for (int i = 0; i < end; i++) {
            if (s[i] == '\n') {
                line++;
                col = 1;
            } else if ((s[i] & 0xC0) != 0x80) {
                col++;
            }
        }
        return new ModelFileException(file + ": invalid tokenizer.json: " + what + " at line " + line + ", column " + col);
    }

    private ModelFileException invalid(String what) {
        return new ModelFileException(file + ": invalid tokenizer.json: " + what);
    }

    // ---- the small sections: what this package reproduces exactly ----

    private void checkModelOptions(Map<String, Object> model) throws ModelFileException {
        if (!"BPE".equals(model.get("type"))) {
            throw invalid("\"model.type\" should be \"BPE\" but is " + show(model.get("type")));
        }
        if (model.get("dropout") != null) {
            throw invalid("\"model.dropout\" should be null (BPE dropout is random), but is " + show(model.get("dropout")));
        }
        for (String key : new String[] {"byte_fallback", "ignore_merges"}) {
            if (model.get(key) != null && !Boolean.FALSE.equals(model.get(key))) {
                throw invalid("\"model." + key + "\" should be false (not supported) but is " + show(model.get(key)));
            }
        }
        for (String key : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            Object v = model.get(key);
            if (v != null && !"".equals(v)) {
                throw invalid("\"model." + key + "\" should be null or \"\" for byte-level BPE but is " + show(v));
            }
        }
    }

    /** The Qwen2/Qwen3 pre-tokenizer: the regex split (each match its own piece), then bytes to the alphabet. */
    private String splitRegex(Object preTokenizer) throws ModelFileException {
        if (preTokenizer instanceof Map<?, ?> seq && "Sequence".equals(seq.get("type"))
                && seq.get("pretokenizers") instanceof List<?> steps && steps.size() == 2
                && steps.get(0) instanceof Map<?, ?> split && "Split".equals(split.get("type"))
                && split.get("pattern") instanceof Map<?, ?> pattern && pattern.get("Regex") instanceof String regex
                && "Isolated".equals(split.get("behavior"))
                && (split.get("invert") == null || Boolean.FALSE.equals(split.get("invert")))
                && steps.get(1) instanceof Map<?, ?> byteLevel && "ByteLevel".equals(byteLevel.get("type"))
                && Boolean.FALSE.equals(byteLevel.get("add_prefix_space"))
                && Boolean.FALSE.equals(byteLevel.get("use_regex"))) {
            return regex;
        }
        throw invalid("unsupported \"pre_tokenizer\" " + show(preTokenizer) + "; supported is the Qwen2/Qwen3 form"
                + " Sequence[Split(pattern Regex, behavior Isolated), ByteLevel(add_prefix_space false, use_regex false)]");
    }

    private boolean nfc(Object normalizer) throws ModelFileException {
        if (normalizer == null) {
            return false;
        }
        if (normalizer instanceof Map<?, ?> m && "NFC".equals(m.get("type")) && m.size() == 1) {
            return true;
        }
        throw invalid("unsupported \"normalizer\" " + show(normalizer) + "; supported are null and {\"type\":\"NFC\"}");
    }

    private void checkDecoderAndPostProcessor(Object decoder, Object postProcessor) throws ModelFileException {
        if (!(decoder instanceof Map<?, ?> d && "ByteLevel".equals(d.get("type")))) {
            throw invalid("unsupported \"decoder\" " + show(decoder) + "; supported is {\"type\":\"ByteLevel\"}");
        }
        // A template post-processor would add BOS/EOS ids; Qwen3's ByteLevel one adds nothing.
        if (postProcessor != null && !(postProcessor instanceof Map<?, ?> p && "ByteLevel".equals(p.get("type")))) {
            throw invalid("unsupported \"post_processor\" " + show(postProcessor)
                    + "; supported are null and {\"type\":\"ByteLevel\"}, which add no tokens");
        }
    }

    private List<TokenizerData.AddedToken> addedTokens(Object value, int vocabSize) throws ModelFileException {
        List<TokenizerData.AddedToken> out = new ArrayList<>();
        if (value == null) {
            return out;
        }
        if (!(value instanceof List<?> list)) {
            throw invalid("\"added_tokens\" should be a list but is " + show(value));
        }
        Map<Integer, String> byId = new HashMap<>();
        Set<String> contents = new HashSet<>();
        for (int i = 0; i < list.size(); i++) {
            String where = "\"added_tokens\"[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> t)) {
                throw invalid(where + " should be an object but is " + show(list.get(i)));
            }
            if (!(t.get("id") instanceof Long id) || id < 0 || id > Integer.MAX_VALUE) {
                throw invalid(where + ".id should be a non-negative integer but is " + show(t.get("id")));
            }
            if (!(t.get("content") instanceof String content) || content.isEmpty()) {
                throw invalid(where + ".content should be a non-empty string but is " + show(t.get("content")));
            }
            for (String flag : new String[] {"single_word", "lstrip", "rstrip", "normalized"}) {
                if (t.get(flag) != null && !Boolean.FALSE.equals(t.get(flag))) {
                    throw invalid(where + " (\"" + content + "\") has " + flag + " = " + show(t.get(flag))
                            + "; only false is supported");
                }
            }
            int tokenId = id.intValue();
            if (tokenId < vocabSize) {
                throw invalid(where + " (\"" + content + "\") has id " + tokenId
                        + ", which is already a regular token (model.vocab has ids 0.." + (vocabSize - 1) + ")");
            }
            String other = byId.putIfAbsent(tokenId, content);
            if (other != null) {
                throw invalid(where + " (\"" + content + "\") has id " + tokenId + ", already used by \"" + other + "\"");
            }
            if (!contents.add(content)) {
                throw invalid(where + " repeats the content \"" + content + "\"");
            }
            out.add(new TokenizerData.AddedToken(tokenId, content));
        }
        return out;
    }

    private static String show(Object v) {
        String json = Json.write(v);
        return json.length() > 300 ? json.substring(0, 300) + "..." : json;
    }

    /** The file's bytes, copied from a mapping: measured several times faster than Files.readAllBytes for 11 MB. */
    private static byte[] bytesOf(Path file) throws IOException {
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
            long size = ch.size();
            if (size > Integer.MAX_VALUE - 16) {
                throw new ModelFileException(file + ": " + size + " bytes is too large for a tokenizer.json");
            }
            byte[] out = new byte[(int) size];
            ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, size).get(out);
            return out;
        }
    }
}
