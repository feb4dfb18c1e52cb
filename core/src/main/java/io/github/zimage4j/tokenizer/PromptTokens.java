package io.github.zimage4j.tokenizer;

/**
 * The token ids of one prompt in Z-Image's chat form, after truncation to the maximum sequence length.
 * (Being a record holding an array, {@code equals} compares the array by identity.)
 *
 * @param ids           the ids the text encoder reads, at most the maximum sequence length of them
 * @param droppedTokens how many ids the truncation cut off the end (0 when the prompt fit)
 */
public record PromptTokens(int[] ids, int droppedTokens) {

    public boolean truncated() {
        return droppedTokens > 0;
    }
}
