package io.github.zimage4j.cli;

import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.HostBackend;
import io.github.zimage4j.kernels.BackendProvider;
import io.github.zimage4j.kernels.FlashAttention;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.tensor.Linear;

/**
 * A test backend: the Java kernels, and a {@link WeightPreparation} report on the first product, as a backend
 * that converts weights on first use would send. Usable only while {@link #ENABLE} is set, so "auto" never
 * picks it for the other tests.
 */
public final class PreparingBackendProvider implements BackendProvider {

    static final String NAME = "test-preparing";
    static final String ENABLE = "zimage4j.test.preparing-backend";
    static final String WHAT = "test conversion of every linear layer";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return -1;
    }

    @Override
    public String unavailableReason() {
        return Boolean.getBoolean(ENABLE) ? null : "a test backend (set -D" + ENABLE + "=true)";
    }

    @Override
    public Backend create() {
        return new HostBackend() {
            private boolean reported;

            @Override
            public String name() {
                return NAME;
            }

            @Override
            public void linear(float[] x, int xOff, int rows, Linear layer, float[] out, int outOff) {
                if (!reported) {
                    reported = true;
                    WeightPreparation.report(new WeightPreparation(NAME, WHAT, null, 3, 2_000_000_000L, 0.25));
                }
                JavaBackend.INSTANCE.linear(x, xOff, rows, layer, out, outOff);
            }

            @Override
            public void attention(FlashAttention.Operand q, FlashAttention.Operand k, FlashAttention.Operand v,
                                  FlashAttention.Operand out, AttentionSpec spec) {
                JavaBackend.INSTANCE.attention(q, k, v, out, spec);
            }
        };
    }
}
