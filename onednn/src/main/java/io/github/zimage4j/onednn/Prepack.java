package io.github.zimage4j.onednn;

import java.util.Locale;

/**
 * Whether the oneDNN backend copies bf16 weights into the blocked layout its matmul prefers (about 6 %
 * faster products than reading the memory-mapped [out, in] rows in place; see {@code PackedWeights}).
 * The copy replaces the mapped pages in the resident set, so it needs free memory, not twice the model.
 * <ul>
 *   <li>{@link #AUTO} (default): a weight is packed when the memory available (Linux {@code MemAvailable})
 *       exceeds its packed size plus a margin for the rest of the run; otherwise it is used in place.</li>
 *   <li>{@link #ON}: every weight is packed, whatever the memory.</li>
 *   <li>{@link #OFF}: weights are always used in place.</li>
 * </ul>
 * Set with {@code -Dzimage.prepack=auto|on|off} or {@link #set} (the CLI's {@code --prepack}) before the
 * first product.
 */
public enum Prepack {
    AUTO, ON, OFF;

    /** The system property that sets the mode. */
    public static final String PROPERTY = "zimage.prepack";

    private static volatile Prepack configured;

    /**
     * @throws IllegalArgumentException naming the accepted values
     */
    public static Prepack parse(String value) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "auto" -> AUTO;
            case "on" -> ON;
            case "off" -> OFF;
            default -> throw new IllegalArgumentException("prepack mode must be auto, on or off, got '" + value + "'");
        };
    }

    /** The mode in force: the one {@link #set}, else {@code -Dzimage.prepack}, else AUTO. */
    public static Prepack current() {
        Prepack p = configured;
        if (p == null) {
            String prop = System.getProperty(PROPERTY);
            try {
                p = prop == null ? AUTO : parse(prop);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("-D" + PROPERTY + ": " + e.getMessage(), e);
            }
        }
        return p;
    }

    public static void set(Prepack mode) {
        configured = mode;
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
