package io.github.zimage4j.scheduler;

/**
 * diffusers' {@code FlowMatchEulerDiscreteScheduler} as Z-Image uses it: it builds the sigma tables
 * ({@link Schedule}); the Euler step and the noising live on the schedule.
 *
 * <p>Flow matching runs σ from 1 (noise) to 0 (clean) along {@code x_σ = (1 − σ)·x0 + σ·noise}. Each
 * table is shifted toward high noise, statically {@code σ' = shift·σ / (1 + (shift − 1)·σ)} or, with
 * dynamic shifting, by the resolution-dependent μ; then a terminal σ = 0 is appended and the scheduler
 * timesteps are σ·1000.
 *
 * <p>Every value reproduces the reference's float32/float64 arithmetic exactly (see {@link Linspace} for
 * the one place that depends on how torch's CPU kernel was compiled).
 */
public final class FlowMatchEulerScheduler {

    private final SchedulerConfig config;
    /** σ at the ends of the (shifted unless dynamic) training schedule, float32 as the reference keeps them. */
    private final float trainSigmaMax;
    private final float trainSigmaMin;

    public FlowMatchEulerScheduler(SchedulerConfig config) {
        this.config = config;
        // The training table is k/T for k = T..1 (float32), statically shifted unless shifting is dynamic.
        float first = 1f;
        float last = 1f / config.numTrainTimesteps();
        if (!config.useDynamicShifting()) {
            first = shiftFloat32(first);
            last = shiftFloat32(last);
        }
        trainSigmaMax = first;
        trainSigmaMin = last;
    }

    public SchedulerConfig config() {
        return config;
    }

    /**
     * Z-Image's schedule, what {@code ZImagePipeline} passes as explicit sigmas:
     * {@code torch.linspace(1, 1/N, N)} in float32, then shifted.
     *
     * @param imageSeqLen image tokens (see {@link SchedulerConfig#imageSeqLen}); sets μ, which only
     *                    matters with dynamic shifting
     */
    public Schedule zImageSchedule(int numSteps, int imageSeqLen) {
        requireSteps(numSteps);
        return fromSigmas(Linspace.torchFloat32(1f, 1.0 / numSteps, numSteps), imageSeqLen);
    }

    /**
     * A schedule from explicit unshifted sigmas (diffusers' {@code set_timesteps(sigmas=…)}): they are
     * shifted in float32, as numpy does on the float32 array.
     */
    public Schedule fromSigmas(float[] baseSigmas, int imageSeqLen) {
        requireSteps(baseSigmas.length);
        double mu = config.mu(imageSeqLen);
        float[] shifted = new float[baseSigmas.length];
        for (int i = 0; i < shifted.length; i++) {
            float s = baseSigmas[i];
            if (!(s >= 0 && s <= 1)) {
                throw new IllegalArgumentException("sigma " + i + " is " + s + "; explicit sigmas must lie in [0, 1]");
            }
            shifted[i] = config.useDynamicShifting() ? timeShiftFloat32(mu, s) : shiftFloat32(s);
        }
        return finish(shifted, mu);
    }

    /**
     * diffusers' schedule when no sigmas are given ({@code set_timesteps(N)}): N timesteps evenly spaced
     * (numpy float64) between the ends of the already shifted training table, shifted a second time. This
     * is <em>not</em> what Z-Image's pipeline does; it exists for completeness and parity.
     */
    public Schedule defaultSchedule(int numSteps, int imageSeqLen) {
        requireSteps(numSteps);
        double mu = config.mu(imageSeqLen);
        int t = config.numTrainTimesteps();
        double[] timesteps = Linspace.numpyFloat64((double) trainSigmaMax * t, (double) trainSigmaMin * t, numSteps);
        float[] shifted = new float[numSteps];
        for (int i = 0; i < numSteps; i++) {
            double s = timesteps[i] / t;
            shifted[i] = (float) (config.useDynamicShifting() ? timeShiftFloat64(mu, s) : shiftFloat64(s));
        }
        return finish(shifted, mu);
    }

    private Schedule finish(float[] shifted, double mu) {
        int n = shifted.length;
        float[] sigmas = new float[n + 1];
        System.arraycopy(shifted, 0, sigmas, 0, n);
        sigmas[n] = 0f;
        float[] timesteps = new float[n];
        float scale = config.numTrainTimesteps();
        for (int i = 0; i < n; i++) {
            timesteps[i] = shifted[i] * scale;
        }
        return new Schedule(sigmas, timesteps, mu, config.useDynamicShifting());
    }

    /** Static shift in float32 (numpy on a float32 array: each scalar rounded to float32 first). */
    private float shiftFloat32(float s) {
        float shift = (float) config.shift();
        float shiftMinusOne = (float) (config.shift() - 1);
        return shift * s / (1f + shiftMinusOne * s);
    }

    private double shiftFloat64(double s) {
        return config.shift() * s / (1 + (config.shift() - 1) * s);
    }

    /** Dynamic shift with the exponent fixed at 1, float32: e^μ (or μ) is rounded to float32 first. */
    private float timeShiftFloat32(double mu, float s) {
        float a = (float) shiftNumerator(mu);
        return a / (a + (1f / s - 1f));
    }

    private double timeShiftFloat64(double mu, double s) {
        double a = shiftNumerator(mu);
        return a / (a + (1 / s - 1));
    }

    private double shiftNumerator(double mu) {
        return switch (config.timeShiftType()) {
            case EXPONENTIAL -> StrictMath.exp(mu);
            case LINEAR -> mu;
        };
    }

    private static void requireSteps(int numSteps) {
        if (numSteps < 1) {
            throw new IllegalArgumentException("the number of inference steps must be at least 1, found " + numSteps);
        }
    }
}
