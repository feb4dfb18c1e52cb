package io.github.zimage4j.pipeline;

/**
 * The two released models share one architecture and differ in training and sampling: Z-Image (base,
 * undistilled: many steps, real CFG, negative prompts) and Z-Image-Turbo (distilled: 8 steps, no CFG).
 * Defaults follow the model cards.
 */
public enum Variant {
    TURBO("Z-Image-Turbo", 8, 0.0, 3.0),
    BASE("Z-Image", 50, 4.0, 6.0);

    private final String displayName;
    private final int defaultSteps;
    private final double defaultGuidance;
    private final double schedulerShift;

    Variant(String displayName, int defaultSteps, double defaultGuidance, double schedulerShift) {
        this.displayName = displayName;
        this.defaultSteps = defaultSteps;
        this.defaultGuidance = defaultGuidance;
        this.schedulerShift = schedulerShift;
    }

    public String displayName() {
        return displayName;
    }

    public int defaultSteps() {
        return defaultSteps;
    }

    public double defaultGuidance() {
        return defaultGuidance;
    }

    /** The released scheduler's static shift (used when a model has no scheduler config). */
    public double schedulerShift() {
        return schedulerShift;
    }

    /**
     * Detects the variant: the scheduler shift decides when it is a released one (3 Turbo, 6 base), else
     * the model name ("turbo" in it: Turbo; otherwise "z-image" in it: base); null when neither tells.
     */
    public static Variant detect(Double shift, String modelName) {
        if (shift != null) {
            if (shift == TURBO.schedulerShift) {
                return TURBO;
            }
            if (shift == BASE.schedulerShift) {
                return BASE;
            }
        }
        String name = modelName == null ? "" : modelName.toLowerCase().replace("_", "").replace("-", "");
        if (name.contains("turbo")) {
            return TURBO;
        }
        if (name.contains("zimage")) {
            return BASE;
        }
        return null;
    }

    /** "turbo" or "base", as the --variant option spells it. */
    public static Variant parse(String s) {
        return switch (s.toLowerCase()) {
            case "turbo", "z-image-turbo" -> TURBO;
            case "base", "z-image" -> BASE;
            default -> throw new IllegalArgumentException("unknown variant '" + s + "' (turbo or base)");
        };
    }
}
