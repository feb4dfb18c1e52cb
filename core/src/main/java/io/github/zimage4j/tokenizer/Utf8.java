package io.github.zimage4j.tokenizer;

/**
 * UTF-8 decoding with replacement, exactly as the reference decoder does it (Rust's
 * {@code String::from_utf8_lossy}): every maximal subpart of an ill-formed sequence becomes one U+FFFD,
 * the practice the Unicode Standard recommends (chapter 3, "U+FFFD Substitution of Maximal Subparts").
 *
 * <p>The JDK decoder is not used because it differs on some ill-formed input: it turns the encoded
 * surrogate {@code ED A0 80} into one U+FFFD where the recommended practice gives three.
 */
final class Utf8 {

    private static final char REPLACEMENT = '\uFFFD';

    private Utf8() {
    }

    static String decodeLossy(byte[] b, int length) {
        StringBuilder out = new StringBuilder(length);
        int i = 0;
        while (i < length) {
            int b0 = b[i] & 0xFF;
            if (b0 < 0x80) {
                out.append((char) b0);
                i++;
                continue;
            }
            int trailing;
            int cp;
            // The allowed range of the second byte depends on the lead (Unicode Table 3-7): this excludes
            // overlong forms, surrogates and code points above U+10FFFF.
            int lo = 0x80;
            int hi = 0xBF;
            if (b0 >= 0xC2 && b0 <= 0xDF) {
                trailing = 1;
                cp = b0 & 0x1F;
            } else if (b0 >= 0xE0 && b0 <= 0xEF) {
                trailing = 2;
                cp = b0 & 0x0F;
                if (b0 == 0xE0) {
                    lo = 0xA0;
                } else if (b0 == 0xED) {
                    hi = 0x9F;
                }
            } else if (b0 >= 0xF0 && b0 <= 0xF4) {
                trailing = 3;
                cp = b0 & 0x07;
                if (b0 == 0xF0) {
                    lo = 0x90;
                } else if (b0 == 0xF4) {
                    hi = 0x8F;
                }
            } else {
                out.append(REPLACEMENT);
                i++;
                continue;
            }
            int j = i + 1;
            int seen = 0;
            while (seen < trailing && j < length) {
                int bj = b[j] & 0xFF;
                if (bj < lo || bj > hi) {
                    break;
                }
                cp = (cp << 6) | (bj & 0x3F);
                lo = 0x80;
                hi = 0xBF;
                j++;
                seen++;
            }
            if (seen < trailing) {
                out.append(REPLACEMENT); // the lead and the valid continuation bytes so far
            } else {
                out.appendCodePoint(cp);
            }
            i = j;
        }
        return out.toString();
    }
}
