package io.github.zimage4j.tokenizer;

import io.github.zimage4j.io.ModelFileException;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * The compact form of {@link TokenizerData} that the bundled tokenizer resource is stored in: about 1.3 MB
 * instead of an 11 MB {@code tokenizer.json}, and read in a few milliseconds because it needs no JSON
 * parsing and no string lookups. It holds the same information, with tokens as raw bytes rather than
 * byte-level strings.
 *
 * <p>Layout (big-endian, the whole stream gzip-compressed; strings are an int byte count then UTF-8):
 * <pre>
 *   int magic "ZQ3T", int version 1
 *   string split regex, byte nfc (0 or 1)
 *   int n, then n u16 token byte lengths, then the n tokens' bytes back to back (ids 0..n-1)
 *   int m, then m ints left, m ints right, m ints result - previous result (merges in rank order;
 *          the deltas are almost all 1, which compresses to nearly nothing)
 *   int a, then a times: int id, string content (added tokens)
 * </pre>
 * The resource is generated from a {@code tokenizer.json} by the test-scope tool
 * {@code WriteBundledTokenizer}; a test checks that it still equals the golden {@code tokenizer.json}.
 */
final class CompactTokenizerFile {

    private static final int MAGIC = 0x5A513354; // "ZQ3T"
    private static final int VERSION = 1;

    private CompactTokenizerFile() {
    }

    static void write(TokenizerData data, Path file) throws IOException {
        try (OutputStream os = Files.newOutputStream(file);
             DataOutputStream out = new DataOutputStream(new BufferedOutputStream(new GZIPOutputStream(os, 1 << 16), 1 << 16))) {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            writeString(out, data.splitRegex());
            out.writeByte(data.nfc() ? 1 : 0);
            byte[][] vocab = data.vocab();
            out.writeInt(vocab.length);
            for (byte[] token : vocab) {
                if (token.length > 0xFFFF) {
                    throw new IllegalArgumentException("a token of " + token.length + " bytes is too long for this format");
                }
                out.writeShort(token.length);
            }
            for (byte[] token : vocab) {
                out.write(token);
            }
            int m = data.mergeLeft().length;
            out.writeInt(m);
            for (int v : data.mergeLeft()) {
                out.writeInt(v);
            }
            for (int v : data.mergeRight()) {
                out.writeInt(v);
            }
            int previous = 0;
            for (int v : data.mergeResult()) {
                out.writeInt(v - previous);
                previous = v;
            }
            out.writeInt(data.addedTokens().size());
            for (TokenizerData.AddedToken t : data.addedTokens()) {
                out.writeInt(t.id());
                writeString(out, t.content());
            }
        }
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(utf8.length);
        out.write(utf8);
    }

    /** Reads the compact form; {@code source} names it in errors. Ids are checked to be in range. */
    static TokenizerData read(InputStream in, String source) throws IOException {
        byte[] bytes;
        try (GZIPInputStream gz = new GZIPInputStream(in, 1 << 16)) {
            bytes = gz.readAllBytes();
        } catch (IOException e) {
            throw new ModelFileException(source + ": not a readable gzip stream: " + e.getMessage(), e);
        }
        ByteBuffer b = ByteBuffer.wrap(bytes);
        try {
            if (b.getInt() != MAGIC) {
                throw new ModelFileException(source + ": not a compact tokenizer file (bad magic number)");
            }
            int version = b.getInt();
            if (version != VERSION) {
                throw new ModelFileException(source + ": compact tokenizer format version " + version
                        + ", but this build reads version " + VERSION);
            }
            String regex = readString(b, source);
            boolean nfc = b.get() != 0;
            int n = count(b, source, "tokens");
            int[] lengths = new int[n];
            for (int i = 0; i < n; i++) {
                lengths[i] = Short.toUnsignedInt(b.getShort());
            }
            byte[][] vocab = new byte[n][];
            for (int i = 0; i < n; i++) {
                vocab[i] = new byte[lengths[i]];
                b.get(vocab[i]);
            }
            int m = count(b, source, "merges");
            int[] left = new int[m];
            int[] right = new int[m];
            int[] result = new int[m];
            b.asIntBuffer().get(left);
            b.position(b.position() + 4 * m);
            b.asIntBuffer().get(right);
            b.position(b.position() + 4 * m);
            b.asIntBuffer().get(result);
            b.position(b.position() + 4 * m);
            for (int r = 0; r < m; r++) {
                if (r > 0) {
                    result[r] += result[r - 1];
                }
                if (outside(left[r], n) || outside(right[r], n) || outside(result[r], n)) {
                    throw new ModelFileException(source + ": merge #" + r + " refers to a token id outside 0.." + (n - 1));
                }
            }
            int a = count(b, source, "added tokens");
            List<TokenizerData.AddedToken> added = new ArrayList<>(a);
            for (int i = 0; i < a; i++) {
                int id = b.getInt();
                if (id < n) {
                    throw new ModelFileException(source + ": added token #" + i + " has id " + id
                            + ", inside the regular vocabulary 0.." + (n - 1));
                }
                added.add(new TokenizerData.AddedToken(id, readString(b, source)));
            }
            if (b.hasRemaining()) {
                throw new ModelFileException(source + ": " + b.remaining() + " unexpected bytes at the end");
            }
            return new TokenizerData(regex, nfc, vocab, left, right, result, added);
        } catch (BufferUnderflowException e) {
            throw new ModelFileException(source + ": truncated compact tokenizer file", e);
        }
    }

    private static boolean outside(int id, int n) {
        return id < 0 || id >= n;
    }

    private static int count(ByteBuffer b, String source, String what) throws ModelFileException {
        int count = b.getInt();
        if (count < 0 || count > b.remaining()) {
            throw new ModelFileException(source + ": corrupt compact tokenizer file (" + count + " " + what + ")");
        }
        return count;
    }

    private static String readString(ByteBuffer b, String source) throws ModelFileException {
        int length = count(b, source, "bytes in a string");
        byte[] utf8 = new byte[length];
        b.get(utf8);
        return new String(utf8, StandardCharsets.UTF_8);
    }
}
