package io.github.zimage4j.kernels;

/**
 * The shape of one scaled dot-product attention call, {@code softmax(Q·Kᵀ·scale + mask)·V}.
 *
 * @param queries    query rows
 * @param keys       key/value rows
 * @param heads      query heads
 * @param kvHeads    key/value heads (fewer than {@code heads} for grouped-query attention)
 * @param headDim    values per head
 * @param scale      score multiplier, usually 1/√headDim
 * @param causal     query i sees key j only if {@code j <= i + (keys − queries)}
 * @param keyMask    null, or {@code keyMask[maskOffset + j]} false hides key j from every query
 * @param maskOffset where this call's keys start in {@code keyMask}
 * @param bf16       whether the backend may multiply in bf16 (as the reference does for bf16 models);
 *                   false asks for float32 products
 */
public record AttentionSpec(int queries, int keys, int heads, int kvHeads, int headDim, float scale, boolean causal,
                            boolean[] keyMask, int maskOffset, boolean bf16) {

    public AttentionSpec {
        if (queries < 0 || keys < 0 || heads < 1 || kvHeads < 1 || headDim < 1) {
            throw new IllegalArgumentException("bad attention shape: " + queries + " queries, " + keys + " keys, "
                    + heads + "/" + kvHeads + " heads of " + headDim);
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException(heads + " query heads cannot share " + kvHeads + " key/value heads");
        }
    }

    /** Bidirectional multi-head self-attention over {@code tokens} rows, scale 1/√headDim, float32 products. */
    public static AttentionSpec self(int tokens, int heads, int headDim) {
        return new AttentionSpec(tokens, tokens, heads, heads, headDim, (float) (1.0 / Math.sqrt(headDim)), false, null, 0, false);
    }

    public AttentionSpec withKvHeads(int n) {
        return new AttentionSpec(queries, keys, heads, n, headDim, scale, causal, keyMask, maskOffset, bf16);
    }

    public AttentionSpec withScale(float s) {
        return new AttentionSpec(queries, keys, heads, kvHeads, headDim, s, causal, keyMask, maskOffset, bf16);
    }

    public AttentionSpec withCausal(boolean c) {
        return new AttentionSpec(queries, keys, heads, kvHeads, headDim, scale, c, keyMask, maskOffset, bf16);
    }

    public AttentionSpec withKeyMask(boolean[] mask, int offset) {
        return new AttentionSpec(queries, keys, heads, kvHeads, headDim, scale, causal, mask, offset, bf16);
    }

    public AttentionSpec withBf16(boolean b) {
        return new AttentionSpec(queries, keys, heads, kvHeads, headDim, scale, causal, keyMask, maskOffset, b);
    }
}
