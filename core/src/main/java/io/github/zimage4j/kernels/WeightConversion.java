package io.github.zimage4j.kernels;

/**
 * What a backend did to a model's weights once, before the first product ({@link Backend#prepareWeights}),
 * for load reports: e.g. oneDNN turning 8-bit (Q8_0) weights into per-row int8 for its int8 units.
 *
 * @param products how the converted layers multiply, e.g. "int8"; null when nothing was converted
 * @param tensors  weights converted
 * @param bytes    bytes the converted weights take (held beside the mapped file while the model is loaded)
 * @param nanos    time the conversion took
 */
public record WeightConversion(String products, int tensors, long bytes, long nanos) {

    public static final WeightConversion NONE = new WeightConversion(null, 0, 0, 0);

    public boolean converted() {
        return tensors > 0;
    }

    @Override
    public String toString() {
        return converted() ? String.format("%d weights to %s, %.2f GB in %.2f s", tensors, products, bytes / 1e9, nanos / 1e9)
                : "no weights converted";
    }
}
