// Element-wise kernels over n elements: grid-stride loops, any launch size works.
#include "common.cuh"

#define GRID_STRIDE(i, n) for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                               i += (long long) gridDim.x * blockDim.x)

// x = silu(x) (Activations.silu).
extern "C" __global__ void silu_f32(float* x, long long n) {
    GRID_STRIDE(i, n) {
        x[i] = zi_silu(x[i]);
    }
}

// a = silu(a) · b (Activations.swiglu).
extern "C" __global__ void swiglu_f32(float* a, const float* b, long long n) {
    GRID_STRIDE(i, n) {
        a[i] = __fmul_rn(zi_silu(a[i]), b[i]);
    }
}

// x += y (Activations.add).
extern "C" __global__ void add_f32(float* x, const float* y, long long n) {
    GRID_STRIDE(i, n) {
        x[i] = __fadd_rn(x[i], y[i]);
    }
}

// float32 → bfloat16, round to nearest even (FloatFormats.floatToBf16).
extern "C" __global__ void f32_to_bf16(const float* x, bf16_t* y, long long n) {
    GRID_STRIDE(i, n) {
        y[i] = f32_to_bf16(x[i]);
    }
}

// bfloat16 → float32, exact.
extern "C" __global__ void bf16_to_f32(const bf16_t* x, float* y, long long n) {
    GRID_STRIDE(i, n) {
        y[i] = bf16_to_f32(x[i]);
    }
}

// The flow-match Euler step: out = sample + dt · model, dt = σ[i+1] − σ[i] (Schedule.step). out may be sample.
extern "C" __global__ void euler_step_f32(float* out, const float* sample, const float* model, float dt, long long n) {
    GRID_STRIDE(i, n) {
        out[i] = __fadd_rn(sample[i], __fmul_rn(dt, model[i]));
    }
}

// The forward process: out = σ · noise + (1 − σ) · sample (Schedule.scaleNoise); keep = 1 − σ from the host.
extern "C" __global__ void scale_noise_f32(float* out, const float* sample, const float* noise, float sigma, float keep,
                                           long long n) {
    GRID_STRIDE(i, n) {
        out[i] = __fadd_rn(__fmul_rn(sigma, noise[i]), __fmul_rn(keep, sample[i]));
    }
}

// The timestep sinusoid of TimestepEmbedder: per sample s, cos of dim/2 frequencies then their sin.
// freq_i = exp((negLog · i) / half) with negLog = (float) −ln(10000) from the host; all float32 as the
// reference, each transcendental in double and rounded once (as StrictMath does on the Java side).
extern "C" __global__ void timestep_embedding_f32(const float* t, float* out, int batch, int dim, float tScale,
                                                  float negLog) {
    int half = dim / 2;
    GRID_STRIDE(idx, (long long) batch * half) {
        int s = (int) (idx / half);
        int i = (int) (idx % half);
        float freq = (float) exp((double) __fdiv_rn(__fmul_rn(negLog, (float) i), (float) half));
        float arg = __fmul_rn(__fmul_rn(t[s], tScale), freq);
        out[(long long) s * dim + i] = (float) cos((double) arg);
        out[(long long) s * dim + half + i] = (float) sin((double) arg);
    }
}
