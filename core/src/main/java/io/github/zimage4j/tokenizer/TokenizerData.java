package io.github.zimage4j.tokenizer;

import java.util.List;

/**
 * Everything a byte-level BPE tokenizer is made of, as read from a {@code tokenizer.json} or from the
 * bundled compact file: the source of both, and what {@link Qwen3Tokenizer} is built from.
 *
 * @param splitRegex  the pre-tokenizer's split pattern, as written in the file (Oniguruma syntax)
 * @param nfc         whether the text between added tokens is NFC-normalized first
 * @param vocab       the bytes of regular token {@code id}, for ids 0..n-1
 * @param mergeLeft   the left token of the merge of rank {@code r}
 * @param mergeRight  the right token of the merge of rank {@code r}
 * @param mergeResult the token the merge of rank {@code r} makes
 * @param addedTokens tokens matched literally in the input before anything else, each with an id outside
 *                    the regular vocabulary
 */
record TokenizerData(String splitRegex, boolean nfc, byte[][] vocab, int[] mergeLeft, int[] mergeRight,
                     int[] mergeResult, List<AddedToken> addedTokens) {

    /** A token matched literally (case-sensitive) in the raw input, such as {@code <|im_start|>}. */
    record AddedToken(int id, String content) {
    }
}
