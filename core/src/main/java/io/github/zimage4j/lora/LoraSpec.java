package io.github.zimage4j.lora;

import java.nio.file.Path;

/** One LoRA file and the strength it is applied with (1 = as trained, 0 = off, negative = inverted). */
public record LoraSpec(Path file, double strength) {

    public LoraSpec {
        if (file == null) {
            throw new IllegalArgumentException("a LoRA needs a file");
        }
        if (!Double.isFinite(strength)) {
            throw new IllegalArgumentException("LoRA strength must be a finite number, got " + strength + " for " + file);
        }
    }

    /** {@code FILE} (strength 1) or {@code FILE:STRENGTH}; a colon inside the path (Windows drives) is kept. */
    public static LoraSpec parse(String text) {
        int colon = text.lastIndexOf(':');
        if (colon > 0 && colon < text.length() - 1) {
            String tail = text.substring(colon + 1);
            try {
                return new LoraSpec(Path.of(text.substring(0, colon)), Double.parseDouble(tail));
            } catch (NumberFormatException e) {
                if (tail.matches("[-+.0-9eE]+")) {
                    throw new IllegalArgumentException("--lora " + text + ": '" + tail + "' is not a number");
                }
                // Not a strength: part of the path.
            }
        }
        return new LoraSpec(Path.of(text), 1.0);
    }

    @Override
    public String toString() {
        return file + ":" + strength;
    }
}
