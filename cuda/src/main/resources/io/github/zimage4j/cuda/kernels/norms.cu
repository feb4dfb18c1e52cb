// Row-wise normalizations (Norms): one block per row, float32 statistics, the same order of the final
// multiplications as the Java kernels. Sums are reduced in a different order, so results differ from
// Java by float rounding only.
#include "common.cuh"

// out = x / rms(x) · weight · rowScale; rowScale may be null; out may be x.
extern "C" __global__ void rms_norm_f32(const float* x, int rows, int dim, const float* weight, float eps,
                                        const float* rowScale, float* out) {
    long long r = blockIdx.x;
    const float* xr = x + r * dim;
    float* orow = out + r * dim;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        ss = __fmaf_rn(xr[i], xr[i], ss);
    }
    ss = block_sum(ss);
    float inv = inv_sqrt_like_java(__fadd_rn(__fdiv_rn(ss, (float) dim), eps));
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = __fmul_rn(__fmul_rn(xr[i], inv), weight[i]);
        orow[i] = rowScale != nullptr ? __fmul_rn(v, rowScale[i]) : v;
    }
}

// The sandwich-norm residual: x += gate · (y / rms(y) · weight); gate may be null.
extern "C" __global__ void add_rms_normed_f32(float* x, const float* y, int rows, int dim, const float* weight,
                                              float eps, const float* gate) {
    long long r = blockIdx.x;
    const float* yr = y + r * dim;
    float* xr = x + r * dim;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        ss = __fmaf_rn(yr[i], yr[i], ss);
    }
    ss = block_sum(ss);
    float inv = inv_sqrt_like_java(__fadd_rn(__fdiv_rn(ss, (float) dim), eps));
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = __fmul_rn(__fmul_rn(yr[i], inv), weight[i]);
        xr[i] = __fadd_rn(xr[i], gate != nullptr ? __fmul_rn(v, gate[i]) : v);
    }
}

// LayerNorm without affine parameters, times rowScale (may be null): two passes, mean then squared
// deviations, as torch and Norms.layerNorm do. out may be x.
extern "C" __global__ void layer_norm_f32(const float* x, int rows, int dim, float eps, const float* rowScale,
                                          float* out) {
    long long r = blockIdx.x;
    const float* xr = x + r * dim;
    float* orow = out + r * dim;
    float s = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        s = __fadd_rn(s, xr[i]);
    }
    float mean = __fdiv_rn(block_sum(s), (float) dim);
    float sq = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float d = __fsub_rn(xr[i], mean);
        sq = __fmaf_rn(d, d, sq);
    }
    float inv = inv_sqrt_like_java(__fadd_rn(__fdiv_rn(block_sum(sq), (float) dim), eps));
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = __fmul_rn(__fsub_rn(xr[i], mean), inv);
        orow[i] = rowScale != nullptr ? __fmul_rn(v, rowScale[i]) : v;
    }
}
