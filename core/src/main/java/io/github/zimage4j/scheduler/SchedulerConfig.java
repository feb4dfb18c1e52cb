package io.github.zimage4j.scheduler;

import io.github.zimage4j.io.JsonConfig;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The flow-matching Euler scheduler's settings, read from the real {@code scheduler/scheduler_config.json}
 * keys of diffusers' {@code FlowMatchEulerDiscreteScheduler}. Absent keys take that class's defaults.
 *
 * <p>Z-Image-Turbo ships {@code shift 3.0}, Z-Image (base) {@code shift 6.0}; both have dynamic shifting
 * off. Options that change the sigma table in ways Z-Image never uses (karras / exponential / beta sigmas,
 * {@code invert_sigmas}, {@code shift_terminal}, stochastic sampling) are refused rather than ignored, so a
 * config that asks for them cannot silently produce a different schedule.
 *
 * @param numTrainTimesteps   training timesteps (1000); scheduler timestep = σ · this
 * @param shift               static shift applied when dynamic shifting is off
 * @param useDynamicShifting  shift by the resolution-dependent μ instead of {@code shift}
 * @param baseShift           μ at {@code baseImageSeqLen} tokens
 * @param maxShift            μ at {@code maxImageSeqLen} tokens
 * @param baseImageSeqLen     image tokens where μ = baseShift
 * @param maxImageSeqLen      image tokens where μ = maxShift
 * @param timeShiftType       how μ shifts σ when dynamic shifting is on
 */
public record SchedulerConfig(int numTrainTimesteps, double shift, boolean useDynamicShifting, double baseShift,
                              double maxShift, int baseImageSeqLen, int maxImageSeqLen, TimeShiftType timeShiftType) {

    /** The scheduler class this implements, as {@code _class_name} names it. */
    public static final String CLASS_NAME = "FlowMatchEulerDiscreteScheduler";

    /** Resolution-dependent shift: σ' = e^μ / (e^μ + (1/σ − 1)) or μ / (μ + (1/σ − 1)). */
    public enum TimeShiftType {
        EXPONENTIAL, LINEAR
    }

    public SchedulerConfig {
        if (numTrainTimesteps <= 0) {
            throw new JsonConfig.ConfigException("num_train_timesteps must be positive, found " + numTrainTimesteps);
        }
        if (!(shift > 0) || Double.isInfinite(shift)) {
            throw new JsonConfig.ConfigException("shift must be a positive number, found " + shift);
        }
        if (maxImageSeqLen == baseImageSeqLen) {
            throw new JsonConfig.ConfigException("max_image_seq_len and base_image_seq_len are both " + baseImageSeqLen
                    + "; the μ line needs two different lengths");
        }
        if (timeShiftType == null) {
            throw new JsonConfig.ConfigException("time_shift_type is required");
        }
    }

    /** A static-shift config with every other key at its default (Turbo: 3.0, base: 6.0). */
    public static SchedulerConfig withShift(double shift) {
        return new SchedulerConfig(1000, shift, false, 0.5, 1.15, 256, 4096, TimeShiftType.EXPONENTIAL);
    }

    public static SchedulerConfig read(Path file) throws IOException {
        return from(JsonConfig.read(file));
    }

    public static SchedulerConfig from(JsonConfig c) {
        String cls = c.getString("_class_name", CLASS_NAME);
        if (!cls.equals(CLASS_NAME)) {
            throw new JsonConfig.ConfigException(c.source() + ": _class_name is \"" + cls + "\"; zimage4j implements only "
                    + CLASS_NAME);
        }
        refuseIfTrue(c, "use_karras_sigmas");
        refuseIfTrue(c, "use_exponential_sigmas");
        refuseIfTrue(c, "use_beta_sigmas");
        refuseIfTrue(c, "invert_sigmas");
        refuseIfTrue(c, "stochastic_sampling");
        // diffusers tests `if shift_terminal:`, so 0 and null both mean "off".
        if (c.has("shift_terminal") && c.getDouble("shift_terminal") != 0) {
            throw new JsonConfig.ConfigException(c.source() + ": shift_terminal " + c.getDouble("shift_terminal")
                    + " is not supported (Z-Image's schedulers do not set it)");
        }
        String type = c.getString("time_shift_type", "exponential");
        TimeShiftType timeShiftType = switch (type) {
            case "exponential" -> TimeShiftType.EXPONENTIAL;
            case "linear" -> TimeShiftType.LINEAR;
            default -> throw new JsonConfig.ConfigException(c.source() + ": time_shift_type must be \"exponential\" or"
                    + " \"linear\", found \"" + type + "\"");
        };
        try {
            return new SchedulerConfig(c.getInt("num_train_timesteps", 1000), c.getDouble("shift", 1.0),
                    c.getBoolean("use_dynamic_shifting", false), c.getDouble("base_shift", 0.5),
                    c.getDouble("max_shift", 1.15), c.getInt("base_image_seq_len", 256),
                    c.getInt("max_image_seq_len", 4096), timeShiftType);
        } catch (JsonConfig.ConfigException e) {
            if (e.getMessage().startsWith(c.source())) {
                throw e;
            }
            throw new JsonConfig.ConfigException(c.source() + ": " + e.getMessage());
        }
    }

    private static void refuseIfTrue(JsonConfig c, String key) {
        if (c.getBoolean(key, false)) {
            throw new JsonConfig.ConfigException(c.source() + ": " + key + " = true is not supported; zimage4j"
                    + " implements the plain flow-matching Euler schedule Z-Image uses");
        }
    }

    /**
     * μ for an image of {@code imageSeqLen} tokens, as the pipeline's {@code calculate_shift}: a line
     * through (baseImageSeqLen, baseShift) and (maxImageSeqLen, maxShift), in double precision.
     */
    public double mu(int imageSeqLen) {
        double m = (maxShift - baseShift) / (maxImageSeqLen - baseImageSeqLen);
        double b = baseShift - m * baseImageSeqLen;
        return imageSeqLen * m + b;
    }

    /** Image tokens of a latent of {@code latentHeight × latentWidth} (2×2 patches), as the pipeline counts them. */
    public static int imageSeqLen(int latentHeight, int latentWidth) {
        return (latentHeight / 2) * (latentWidth / 2);
    }
}
