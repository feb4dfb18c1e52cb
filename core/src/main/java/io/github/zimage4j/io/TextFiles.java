package io.github.zimage4j.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reading text files (configs, prompts) strictly as UTF-8, with errors that say where and why. */
public final class TextFiles {

    private TextFiles() {
    }

    /**
     * The file's text; a leading byte-order mark is dropped (editors on Windows write one).
     *
     * @throws ModelFileException when the file is missing, a folder, unreadable, or not UTF-8 (the message
     *                            gives the byte offset and the offending bytes)
     */
    public static String readUtf8(Path file) throws IOException {
        Paths.requireReadableFile(file, "file");
        byte[] bytes = Files.readAllBytes(file);
        return decodeUtf8(bytes, file.toString());
    }

    /** {@code bytes} as UTF-8 without a leading BOM; {@code source} names them in errors. */
    public static String decodeUtf8(byte[] bytes, String source) throws ModelFileException {
        int start = bytes.length >= 3 && (bytes[0] & 0xFF) == 0xEF && (bytes[1] & 0xFF) == 0xBB && (bytes[2] & 0xFF) == 0xBF ? 3 : 0;
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, start, bytes.length - start);
        CharBuffer out = CharBuffer.allocate((int) Math.min(Integer.MAX_VALUE - 16, (long) bytes.length + 1));
        CoderResult r = dec.decode(in, out, true);
        if (r.isUnderflow()) {
            r = dec.flush(out);
        }
        if (r.isError()) {
            int at = in.position();
            StringBuilder hex = new StringBuilder();
            for (int i = at; i < Math.min(bytes.length, at + Math.max(1, r.length())); i++) {
                hex.append(hex.isEmpty() ? "" : " ").append(String.format("0x%02X", bytes[i] & 0xFF));
            }
            throw new ModelFileException(source + ": not UTF-8 text: invalid byte sequence " + hex + " at byte offset " + at
                    + (looksLikeUtf16(bytes) ? " (the file looks like UTF-16; save it as UTF-8)" : ""));
        }
        if (r.isOverflow()) {
            throw new ModelFileException(source + ": could not decode " + bytes.length + " bytes", new CharacterCodingException());
        }
        return out.flip().toString();
    }

    private static boolean looksLikeUtf16(byte[] b) {
        return b.length >= 2 && (((b[0] & 0xFF) == 0xFF && (b[1] & 0xFF) == 0xFE) || ((b[0] & 0xFF) == 0xFE && (b[1] & 0xFF) == 0xFF));
    }
}
