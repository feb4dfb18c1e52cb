package io.github.zimage4j.pipeline;

/**
 * Checks a stage's output for NaN and ±∞ where it is produced, so a failure is named after the stage that
 * caused it (the text encoder, the transformer at step k, the VAE) rather than noticed as a black image.
 */
final class NonFinite {

    private NonFinite() {
    }

    /**
     * @param where the stage, e.g. "the transformer output at step 3 of 8 (image 1)"
     * @throws ArithmeticException naming the stage and how many values are NaN or infinite
     */
    static void check(float[] data, String where) {
        int nan = 0;
        int inf = 0;
        int first = -1;
        for (int i = 0; i < data.length; i++) {
            float v = data[i];
            if (Float.isNaN(v)) {
                nan++;
            } else if (Float.isInfinite(v)) {
                inf++;
            } else {
                continue;
            }
            if (first < 0) {
                first = i;
            }
        }
        if (first >= 0) {
            throw new ArithmeticException(where + " holds " + nan + " NaN and " + inf + " infinite values of " + data.length
                    + " (first at index " + first + "): the weights or the activations overflow float32 there");
        }
    }
}
