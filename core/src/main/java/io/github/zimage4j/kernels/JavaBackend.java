package io.github.zimage4j.kernels;

import io.github.zimage4j.tensor.Linear;

/** The pure-Java backend: Vector API kernels on the shared pool. Runs everywhere JDK 25 runs. */
public final class JavaBackend extends HostBackend {

    public static final JavaBackend INSTANCE = new JavaBackend();

    private JavaBackend() {
    }

    @Override
    public String name() {
        return "java";
    }

    @Override
    public void linear(float[] x, int xOff, int rows, Linear layer, float[] out, int outOff) {
        AdapterProducts.Pending adapters = AdapterProducts.prepare(x, xOff, rows, layer);
        Gemm.matmul(x, xOff, rows, layer.in(), layer.weight(), layer.bias(), out, outOff);
        AdapterProducts.addTo(adapters, out, outOff);
    }

    @Override
    public void attention(FlashAttention.Operand q, FlashAttention.Operand k, FlashAttention.Operand v,
                          FlashAttention.Operand out, AttentionSpec spec) {
        FlashAttention.attention(q, k, v, out, spec);
    }
}
