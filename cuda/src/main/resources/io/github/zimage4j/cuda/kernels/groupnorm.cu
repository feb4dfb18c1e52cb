// GroupNorm over channels-last activations [pixels, C] (GroupNorm.groupNorm), with the Java kernel's
// exact summation order: pixels fall into chunks of max(1, 16384 / C); per chunk each channel's sum runs
// over its pixels in order in float32 (an FMA per square, as the Vector API does), then each group's
// channels are added in double; the chunks are then added in order in double. Launch sequence:
//   gn_sums(center = null) → gn_mean → gn_sums(center = mean per channel) → gn_scale_shift → gn_apply.

#include "common.cuh"

// partial[chunk · groups + g] = Σ over the chunk's pixels and group g's channels of x, or of (x − center)².
// Grid: one block per chunk; threads stride over channels (one channel's sum per thread, pixels in order).
extern "C" __global__ void gn_sums(const float* x, int pixels, int channels, int groups, int chunkPixels,
                                   const float* center, double* partial) {
    extern __shared__ float channelSum[];  // channels floats
    int chunk = blockIdx.x;
    long long p0 = (long long) chunk * chunkPixels;
    long long p1 = p0 + chunkPixels < pixels ? p0 + chunkPixels : pixels;
    for (int c = threadIdx.x; c < channels; c += blockDim.x) {
        float acc = 0.0f;
        if (center == nullptr) {
            for (long long p = p0; p < p1; p++) {
                acc = __fadd_rn(acc, x[p * channels + c]);
            }
        } else {
            float m = center[c];
            for (long long p = p0; p < p1; p++) {
                float v = __fsub_rn(x[p * channels + c], m);
                acc = __fmaf_rn(v, v, acc);
            }
        }
        channelSum[c] = acc;
    }
    __syncthreads();
    int perGroup = channels / groups;
    for (int g = threadIdx.x; g < groups; g += blockDim.x) {
        double s = 0.0;
        for (int c = g * perGroup; c < (g + 1) * perGroup; c++) {
            s += (double) channelSum[c];
        }
        partial[(long long) chunk * groups + g] = s;
    }
}

// mean[g] = Σ_chunks partial / count (double); meanPerChannel[c] = (float) mean of c's group.
extern "C" __global__ void gn_mean(const double* partial, int chunks, int groups, int channels, double count,
                                   double* mean, float* meanPerChannel) {
    int g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) {
        return;
    }
    double s = 0.0;
    for (int r = 0; r < chunks; r++) {
        s += partial[(long long) r * groups + g];
    }
    double m = s / count;
    mean[g] = m;
    int perGroup = channels / groups;
    for (int c = g * perGroup; c < (g + 1) * perGroup; c++) {
        meanPerChannel[c] = (float) m;
    }
}

// From the squared-deviation sums: rstd = 1/sqrt(var + eps); scale = rstd·weight, shift = bias − mean·scale.
extern "C" __global__ void gn_scale_shift(const double* partial, int chunks, int groups, int channels, double count,
                                          float eps, const double* mean, const float* weight, const float* bias,
                                          float* scale, float* shift) {
    int g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) {
        return;
    }
    double s = 0.0;
    for (int r = 0; r < chunks; r++) {
        s += partial[(long long) r * groups + g];
    }
    float rstd = (float) (1.0 / sqrt(s / count + (double) eps));
    float m = (float) mean[g];
    int perGroup = channels / groups;
    for (int c = g * perGroup; c < (g + 1) * perGroup; c++) {
        float sc = __fmul_rn(rstd, weight[c]);
        scale[c] = sc;
        shift[c] = __fsub_rn(bias[c], __fmul_rn(m, sc));
    }
}

// out = x·scale + shift (one rounding, as FloatVector.fma), then SiLU if silu != 0. out may be x.
extern "C" __global__ void gn_apply(const float* x, long long pixels, int channels, const float* scale,
                                   const float* shift, int silu, float* out) {
    long long n = pixels * channels;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        int c = (int) (i % channels);
        float v = __fmaf_rn(x[i], scale[c], shift[c]);
        out[i] = silu ? zi_silu(v) : v;
    }
}
