package io.github.zimage4j.cuda;

import io.github.zimage4j.kernels.Conv2d;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * Linear layers and convolutions on one device through cuBLASLt: a handle, a workspace and a plan per
 * shape (descriptor creation and the algorithm heuristic cost more than a small product, so they are
 * built once). Queued on the device's stream; one caller at a time.
 */
public final class CudaLinear implements AutoCloseable {

    /** Workspace offered to cuBLASLt: what NVIDIA recommends for Hopper (32 MiB). */
    static final long WORKSPACE = 32L << 20;
    /** The most bytes one im2col band of a convolution may take. */
    static final long COLUMN_BUDGET = 256L << 20;

    private record Shape(int rows, int in, int out, CublasLt.DataType type, boolean bias, boolean accumulate) {
    }

    private final CudaDevice device;
    private final CublasLt lt;
    private final MemorySegment handle;
    private final DeviceBuffer workspace;
    private final Map<Shape, CublasLt.LinearPlan> plans = new HashMap<>();

    public CudaLinear(CudaDevice device, CublasLt lt) {
        this.device = device;
        this.lt = lt;
        device.bind();
        this.handle = lt.createHandle();
        this.workspace = device.allocate(WORKSPACE, "the cuBLASLt workspace");
    }

    /**
     * {@code y[rows, out] = x[rows, in] · W[out, in]ᵀ + bias} ({@code +=} when accumulating). {@code x} and
     * {@code w} are device arrays of {@code type}; {@code bias} (0 = none) and {@code y} float32.
     */
    public void linear(long x, int rows, int in, long w, int out, CublasLt.DataType type, long bias, long y,
                       boolean accumulate) {
        device.bind();
        Shape s = new Shape(rows, in, out, type, bias != 0, accumulate);
        CublasLt.LinearPlan plan = plans.get(s);
        if (plan == null) {
            plan = lt.linearPlan(handle, rows, in, out, type, bias != 0, accumulate, WORKSPACE);
            plans.put(s, plan);
        }
        plan.run(handle, device.stream(), x, w, bias, y, workspace.address(), WORKSPACE);
    }

    /**
     * Conv2d.conv2d on the device: channels-last float32 input {@code [height, width, cin]}, weight
     * {@code [cout, cin, kh, kw]} of {@code weightType} on the device, float32 output
     * {@code [oh, ow, cout]} ({@code +=} when accumulating). The input is gathered (im2col, in the weight's
     * type) a band of output pixels at a time and multiplied by the weight viewed as {@code [cout, cin·kh·kw]}.
     */
    public void conv2d(CudaKernels kernels, long x, int height, int width, int cin, long w, CublasLt.DataType weightType,
                       int cout, int kh, int kw, long bias, Conv2d.Geometry g, long out, boolean accumulate) {
        if (weightType == CublasLt.DataType.F16) {
            throw new IllegalArgumentException("convolutions take f32 or bf16 weights on the GPU, found f16");
        }
        int oh = g.outHeight(height, kh);
        int ow = g.outWidth(width, kw);
        if (oh < 1 || ow < 1) {
            throw new IllegalArgumentException("a " + kh + "×" + kw + " kernel does not fit a " + height + "×" + width
                    + " input with " + g);
        }
        long m = (long) oh * ow;
        int k = cin * kh * kw;
        long rowBytes = (long) k * weightType.bytes();
        int band = (int) Math.max(1, Math.min(m, COLUMN_BUDGET / rowBytes));
        boolean bf16 = weightType == CublasLt.DataType.BF16;
        try (DeviceBuffer col = device.allocate(band * rowBytes, "an im2col band of " + band + " pixels × " + k)) {
            for (long m0 = 0; m0 < m; m0 += band) {
                int count = (int) Math.min(band, m - m0);
                kernels.im2col(bf16, x, height, width, cin, kh, kw, g, m0, count, col.address());
                linear(col.address(), count, k, w, cout, weightType, bias, out + 4L * m0 * cout, accumulate);
            }
        }
    }

    @Override
    public void close() {
        device.bind();
        device.synchronize("finishing matmuls before releasing cuBLASLt");
        for (CublasLt.LinearPlan p : plans.values()) {
            p.close();
        }
        plans.clear();
        workspace.close();
        lt.destroyHandle(handle);
    }
}
