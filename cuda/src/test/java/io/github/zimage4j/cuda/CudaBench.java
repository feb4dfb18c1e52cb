package io.github.zimage4j.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Locale;

/**
 * Device timings of the kernels at the DiT's sizes for a 1024×1024 image (4096 image tokens + a 32-token
 * prompt, width 3840, 30 heads of 128, FFN 10240), measured with CUDA events: the median of 10 runs after
 * 2 warm-ups. Run by gpu-kit/run.sh: {@code java … io.github.zimage4j.cuda.CudaBench}. Inputs are zeros:
 * timings of these kernels do not depend on the values.
 */
public final class CudaBench {

    private CudaBench() {
    }

    static final int TOKENS = 4096 + 32;
    static final int DIM = 3840;
    static final int HEADS = 30;
    static final int HEAD_DIM = 128;
    static final int FFN = 10240;

    public static void main(String[] args) {
        try (CudaDevice device = CudaDevice.open(0)) {
            System.out.println("device: " + device.describe());
            Nvrtc nvrtc = Nvrtc.get();
            long t0 = System.nanoTime();
            try (CudaKernels k = CudaKernels.load(device, nvrtc); CudaLinear lin = new CudaLinear(device, CublasLt.get())) {
                System.out.printf(Locale.ROOT, "NVRTC %s from %s compiled the kernels for %s in %.1f s%n",
                        Arrays.toString(nvrtc.version()), nvrtc.loadedFrom(), k.arch(), (System.nanoTime() - t0) / 1e9);
                System.out.println("cuBLASLt " + CublasLt.get().version() + " from " + CublasLt.get().loadedFrom());
                try (DeviceBuffer xb = zeros(device, 2L * TOKENS * FFN, "activations (bf16)");
                     DeviceBuffer w = zeros(device, 2L * FFN * DIM, "a weight (bf16)");
                     DeviceBuffer y = zeros(device, 4L * TOKENS * FFN, "outputs (f32)");
                     DeviceBuffer qkv = zeros(device, 2L * TOKENS * 3 * DIM, "fused QKV (bf16)");
                     DeviceBuffer attn = zeros(device, 4L * TOKENS * DIM, "attention output");
                     DeviceBuffer norm = zeros(device, 4L * DIM, "norm weight")) {
                    time(device, "linear bf16 " + TOKENS + "×" + DIM + " · " + DIM + "×" + DIM, 2.0 * TOKENS * DIM * DIM,
                            () -> lin.linear(xb.address(), TOKENS, DIM, w.address(), DIM, CublasLt.DataType.BF16, 0, y.address(), false));
                    time(device, "linear bf16 " + TOKENS + "×" + DIM + " · " + DIM + "×" + FFN, 2.0 * TOKENS * DIM * FFN,
                            () -> lin.linear(xb.address(), TOKENS, DIM, w.address(), FFN, CublasLt.DataType.BF16, 0, y.address(), false));
                    long q = qkv.address();
                    int stride = 3 * DIM;
                    double attnFlops = 4.0 * TOKENS * TOKENS * HEAD_DIM * HEADS;
                    time(device, "attention mma " + TOKENS + " tokens, " + HEADS + "×" + HEAD_DIM, attnFlops,
                            () -> k.attention(q, stride, q + 2L * DIM, stride, q + 4L * DIM, stride, attn.address(), DIM,
                                    TOKENS, TOKENS, HEADS, HEADS, HEAD_DIM, 0.088f, false, 0));
                    time(device, "rmsNorm " + TOKENS + "×" + DIM, 0,
                            () -> k.rmsNorm(y.address(), TOKENS, DIM, norm.address(), 1e-6f, 0, y.address()));
                    time(device, "f32→bf16 " + TOKENS + "×" + FFN, 0,
                            () -> k.f32ToBf16(y.address(), xb.address(), (long) TOKENS * FFN));
                }
            }
        }
    }

    private static DeviceBuffer zeros(CudaDevice d, long bytes, String what) {
        DeviceBuffer b = d.allocate(bytes, what);
        d.driver().zeroAsync(b.address(), bytes, d.stream());
        return b;
    }

    private static void time(CudaDevice d, String what, double flops, Runnable op) {
        CudaDriver drv = d.driver();
        MemorySegment start = drv.createEvent();
        MemorySegment end = drv.createEvent();
        try {
            for (int i = 0; i < 2; i++) {
                op.run();
            }
            d.synchronize("warming up " + what);
            double[] ms = new double[10];
            for (int i = 0; i < ms.length; i++) {
                drv.record(start, d.stream());
                op.run();
                drv.record(end, d.stream());
                ms[i] = drv.elapsedMillis(start, end);
            }
            Arrays.sort(ms);
            double median = (ms[4] + ms[5]) / 2;
            String rate = flops > 0 ? String.format(Locale.ROOT, ", %.0f TFLOP/s", flops / (median * 1e-3) / 1e12) : "";
            System.out.printf(Locale.ROOT, "%-60s median %.3f ms (min %.3f, max %.3f)%s%n", what, median, ms[0], ms[9], rate);
        } finally {
            drv.destroyEvent(start);
            drv.destroyEvent(end);
        }
    }
}
