package io.github.zimage4j.tokenizer;

/**
 * The GPT-2 byte-to-unicode alphabet that byte-level BPE vocabularies are written in.
 *
 * <p>Each of the 256 byte values is one printable character: the bytes that already are printable,
 * non-space Latin-1 characters ({@code !}..{@code ~}, {@code ¡}..{@code ¬}, {@code ®}..{@code ÿ}) stand
 * for themselves, and the other 68 bytes, in increasing order, take the characters from U+0100 on (so
 * the space 0x20 is {@code Ġ}, U+0120, and the newline 0x0A is {@code Ċ}, U+010A). Vocabulary keys and
 * merges are strings over this alphabet; inside the tokenizer everything works on the raw bytes.
 */
final class ByteLevel {

    private static final char[] BYTE_TO_CHAR = new char[256];
    /** The inverse, indexed by character; -1 for characters outside the alphabet. */
    private static final short[] CHAR_TO_BYTE = new short[0x100 + 68];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, (short) -1);
        int next = 0x100;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) next++;
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {
    }

    /** The alphabet character that stands for byte {@code b} (0..255). */
    static char charOf(int b) {
        return BYTE_TO_CHAR[b];
    }

    /** The byte that code point {@code c} stands for, or -1 when it is not in the alphabet. */
    static int byteOf(int c) {
        return c >= 0 && c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** The vocabulary string for some bytes (for messages). */
    static String stringOf(byte[] bytes) {
        char[] out = new char[bytes.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }
}
