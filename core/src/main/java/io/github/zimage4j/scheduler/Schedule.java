package io.github.zimage4j.scheduler;

import java.util.Arrays;

/**
 * One denoising schedule: {@code N} steps from σ = {@code sigma(0)} down to the terminal σ = 0, and the
 * Euler update between them. All arithmetic is float32 in the reference's order of operations, so the
 * values equal diffusers' bit for bit.
 *
 * <p>Steps are addressed by their index into the full table. Text-to-image runs indices {@code 0..N−1};
 * image-to-image starts at {@link #startIndexForStrength(double)} (diffusers' begin index) and step
 * {@code i} always goes from {@code sigma(i)} to {@code sigma(i + 1)}.
 */
public final class Schedule {

    private final float[] sigmas;
    private final float[] timesteps;
    private final double mu;
    private final boolean muUsed;

    /**
     * @param sigmas    N + 1 values, the last the terminal 0
     * @param timesteps N values, σ · num_train_timesteps
     */
    Schedule(float[] sigmas, float[] timesteps, double mu, boolean muUsed) {
        if (sigmas.length != timesteps.length + 1) {
            throw new IllegalArgumentException(sigmas.length + " sigmas for " + timesteps.length + " timesteps; expected one more");
        }
        this.sigmas = sigmas;
        this.timesteps = timesteps;
        this.mu = mu;
        this.muUsed = muUsed;
    }

    /** N, the number of steps (the terminal σ is not a step). */
    public int numSteps() {
        return timesteps.length;
    }

    /** σ before step {@code i}; {@code sigma(numSteps())} is the terminal 0. */
    public float sigma(int i) {
        return sigmas[i];
    }

    /** The N + 1 sigmas, terminal 0 included (a copy). */
    public float[] sigmas() {
        return sigmas.clone();
    }

    /** The scheduler timestep of step {@code i}: σ·1000 in float32. */
    public float timestep(int i) {
        return timesteps[i];
    }

    /** The N scheduler timesteps (a copy). */
    public float[] timesteps() {
        return timesteps.clone();
    }

    /**
     * The time value the transformer receives at step {@code i}: {@code (1000 − t)/1000} in float32, so
     * 1 − σ up to rounding; 0 is pure noise. The pipeline uses the same value as cfg_truncation's t_norm.
     */
    public float modelTimestep(int i) {
        return (1000f - timesteps[i]) / 1000f;
    }

    /**
     * Whether cfg_truncation switches guidance off at step {@code i}: when {@code cfgTruncation ≤ 1} and the
     * step's t_norm ({@link #modelTimestep}) exceeds it. The default 1.0 never truncates. Only meaningful
     * while classifier-free guidance is on.
     */
    public boolean guidanceTruncated(int i, double cfgTruncation) {
        return cfgTruncation <= 1 && modelTimestep(i) > cfgTruncation;
    }

    /** μ computed for this schedule's image size (always computed by the pipeline). */
    public double mu() {
        return mu;
    }

    /** Whether μ shaped the sigmas (only with {@code use_dynamic_shifting}). */
    public boolean muUsed() {
        return muUsed;
    }

    /**
     * The Euler step {@code i}: {@code out = sample + (σ[i+1] − σ[i])·modelOutput}, float32, element by
     * element. {@code modelOutput} is what the scheduler receives, i.e. the pipeline's already negated and
     * guided {@code noise_pred} (dx/dσ). {@code out} may be {@code sample} itself.
     */
    public void step(int i, float[] sample, float[] modelOutput, float[] out) {
        checkStep(i);
        checkSameLength(sample, modelOutput, out);
        float dt = sigmas[i + 1] - sigmas[i];
        for (int k = 0; k < sample.length; k++) {
            out[k] = sample[k] + dt * modelOutput[k];
        }
    }

    /**
     * The flow-matching forward process at σ = {@code sigma(i)}:
     * {@code out = σ·noise + (1 − σ)·sample} (diffusers' {@code scale_noise}), float32. Image-to-image
     * starts from {@code i} = the start index; inpainting re-noises the image at {@code i + 1} after step
     * {@code i}. {@code out} may alias either input.
     */
    public void scaleNoise(int i, float[] sample, float[] noise, float[] out) {
        if (i < 0 || i > numSteps()) {
            throw new IndexOutOfBoundsException("sigma index " + i + " outside 0.." + numSteps());
        }
        checkSameLength(sample, noise, out);
        float sigma = sigmas[i];
        float keep = 1f - sigma;
        for (int k = 0; k < sample.length; k++) {
            out[k] = sigma * noise[k] + keep * sample[k];
        }
    }

    /**
     * The index image-to-image starts at for {@code strength} ∈ [0, 1], as diffusers:
     * {@code init = min(N·strength, N)} in double, {@code start = (int) max(N − init, 0)}; the run takes
     * steps {@code start..N−1}. Fails when strength is outside [0, 1] or no step would remain.
     */
    public int startIndexForStrength(double strength) {
        if (!(strength >= 0 && strength <= 1)) {
            throw new IllegalArgumentException("strength must be in [0.0, 1.0], found " + strength);
        }
        int n = numSteps();
        double initTimestep = Math.min(n * strength, n);
        int start = (int) Math.max(n - initTimestep, 0);
        if (n - start < 1) {
            throw new IllegalArgumentException("strength " + strength + " with " + n + " steps leaves "
                    + (n - start) + " steps to run; raise the strength or the step count");
        }
        return start;
    }

    private void checkStep(int i) {
        if (i < 0 || i >= numSteps()) {
            throw new IndexOutOfBoundsException("step " + i + " outside 0.." + (numSteps() - 1));
        }
    }

    private static void checkSameLength(float[] a, float[] b, float[] out) {
        if (a.length != b.length || a.length != out.length) {
            throw new IllegalArgumentException("tensor sizes differ: " + a.length + ", " + b.length + ", out " + out.length);
        }
    }

    @Override
    public String toString() {
        return "Schedule" + Arrays.toString(sigmas);
    }
}
