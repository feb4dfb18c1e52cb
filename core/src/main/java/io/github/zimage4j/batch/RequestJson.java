package io.github.zimage4j.batch;

import io.github.zimage4j.controlnet.ControlType;
import io.github.zimage4j.image.ImageFiles;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.lora.LoraSpec;
import io.github.zimage4j.pipeline.GenerationRequest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A generation request as a JSON object with snake_case fields, the form the batch job lines, the Spark
 * job and the server's native API share:
 * <pre>
 * {"prompt": "a red fox", "negative_prompt": "", "width": 1024, "height": 1024, "steps": 8, "guidance": 0,
 *  "cfg_normalization": 0, "cfg_truncation": 1.0, "seed": 42, "max_sequence_length": 512,
 *  "init_image": "in/fox.png", "strength": 0.6, "mask": "in/fox-mask.png",
 *  "control_image": "in/pose.png", "control_type": "canny", "control_scale": 0.75,
 *  "loras": [{"path": "loras/style.safetensors", "strength": 0.8}]}
 * </pre>
 * Only {@code prompt} is required; an absent field or a JSON {@code null} takes the default (1024² pixels
 * or the init image's size, the variant's steps and guidance, no cfg normalization or truncation, a random
 * seed; see {@link GenerationRequest}). Image fields are file paths, read through an {@link Images}. Every
 * error names the field, the expected type or range and the value found.
 */
public final class RequestJson {

    /** The fields of a request, in the order {@link #toJson} writes them. */
    public static final List<String> FIELDS = List.of("prompt", "negative_prompt", "width", "height", "steps", "guidance",
            "cfg_normalization", "cfg_truncation", "seed", "max_sequence_length", "init_image", "strength", "mask",
            "control_image", "control_type", "control_scale", "loras");

    /** The fields holding image file paths. */
    public static final List<String> IMAGE_FIELDS = List.of("init_image", "mask", "control_image");

    /** Where image paths lead: a local file to read (a remote one is fetched first). */
    @FunctionalInterface
    public interface Images {
        Path localFile(String path) throws IOException;

        /** Paths are local file paths. */
        Images LOCAL = Path::of;
    }

    private RequestJson() {
    }

    /** A field with a wrong type or value, or a field that is not a request field. */
    public static final class InvalidRequestException extends IllegalArgumentException {
        private final String field;

        InvalidRequestException(String field, String message) {
            super(message);
            this.field = field;
        }

        /** The offending field, or null when the problem concerns the whole request. */
        public String field() {
            return field;
        }
    }

    /**
     * The request these fields describe.
     *
     * @throws InvalidRequestException naming the first field that is unknown, of the wrong type or out of range
     */
    public static GenerationRequest toRequest(Map<String, ?> json) {
        return toRequest(json, Images.LOCAL);
    }

    /** The request these fields describe, reading its images through {@code images}. */
    public static GenerationRequest toRequest(Map<String, ?> json, Images images) {
        for (String key : json.keySet()) {
            if (!FIELDS.contains(key)) {
                throw new InvalidRequestException(key, "unknown field \"" + key + "\"" + suggestion(key)
                        + " (request fields: " + String.join(", ", FIELDS) + ")");
            }
        }
        if (json.get("prompt") == null) {
            throw new InvalidRequestException("prompt", "\"prompt\" is required (\"\" is allowed)");
        }
        GenerationRequest.Builder b = GenerationRequest.builder();
        set("prompt", () -> b.prompt(string(json, "prompt")));
        set("negative_prompt", () -> b.negativePrompt(json.get("negative_prompt") == null ? "" : string(json, "negative_prompt")));
        set("steps", () -> b.steps(json.get("steps") == null ? null : intOr(json, "steps", 0)));
        set("guidance", () -> b.guidance(json.get("guidance") == null ? null : number(json, "guidance")));
        set("cfg_normalization", () -> b.cfgNormalization(json.get("cfg_normalization") == null ? 0 : number(json, "cfg_normalization")));
        set("cfg_truncation", () -> b.cfgTruncation(json.get("cfg_truncation") == null ? 1.0 : number(json, "cfg_truncation")));
        set("seed", () -> b.seed(json.get("seed") == null ? null : integer(json, "seed")));
        if (json.get("max_sequence_length") != null) {
            set("max_sequence_length", () -> b.maxSequenceLength(intOr(json, "max_sequence_length", 0)));
        }
        set("strength", () -> b.strength(json.get("strength") == null ? null : number(json, "strength")));
        set("control_type", () -> b.controlType(json.get("control_type") == null ? null : ControlType.parse(string(json, "control_type"))));
        set("control_scale", () -> b.controlScale(json.get("control_scale") == null ? null : number(json, "control_scale")));
        if (json.get("width") != null || json.get("height") != null || json.get("init_image") == null) {
            set(null, () -> b.size(intOr(json, "width", GenerationRequest.DEFAULT_SIDE), intOr(json, "height", GenerationRequest.DEFAULT_SIDE)));
        }
        if (json.get("init_image") != null) {
            b.initImage(image(json, "init_image", images));
        }
        if (json.get("mask") != null) {
            // Read as RGB, as generate does: the pipeline resizes, then converts to gray, in diffusers' order.
            b.mask(image(json, "mask", images));
        }
        if (json.get("control_image") != null) {
            b.controlImage(image(json, "control_image", images));
        }
        if (json.get("loras") != null) {
            b.loras(loras(json.get("loras"), images));
        }
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(null, e.getMessage());
        }
    }

    /** Applies one field to the builder; its checks fail naming the field. */
    private static void set(String field, Runnable apply) {
        try {
            apply.run();
        } catch (InvalidRequestException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(field, field == null || e.getMessage().contains(field.replace('_', ' '))
                    ? e.getMessage() : "\"" + field + "\": " + e.getMessage());
        }
    }

    /** {@code [{"path": FILE, "strength": S}]}, strength 1 when absent; every file must exist. */
    private static List<LoraSpec> loras(Object value, Images images) {
        if (!(value instanceof List<?> list)) {
            throw new InvalidRequestException("loras", "\"loras\" must be an array of {\"path\", \"strength\"} objects, got "
                    + describe(value));
        }
        List<LoraSpec> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String field = "loras[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> m) || !(m.get("path") instanceof String path)) {
                throw new InvalidRequestException(field, "\"" + field + "\" must be an object with a string \"path\" and an"
                        + " optional number \"strength\", got " + describe(list.get(i)));
            }
            for (Object key : m.keySet()) {
                if (!key.equals("path") && !key.equals("strength")) {
                    throw new InvalidRequestException(field, "\"" + field + "\": unknown field \"" + key + "\" (path, strength)");
                }
            }
            Object strength = m.get("strength");
            if (strength != null && !(strength instanceof Number)) {
                throw new InvalidRequestException(field, "\"" + field + ".strength\" must be a number, got " + describe(strength));
            }
            Path file;
            try {
                file = images.localFile(path);
            } catch (IOException | RuntimeException e) {
                throw new InvalidRequestException(field, "\"" + field + ".path\": cannot read " + path + ": " + e.getMessage());
            }
            if (!Files.isRegularFile(file)) {
                throw new InvalidRequestException(field, "\"" + field + ".path\": " + file + " is not a file");
            }
            out.add(new LoraSpec(file, strength == null ? 1.0 : ((Number) strength).doubleValue()));
        }
        return out;
    }

    private static UInt8Image image(Map<String, ?> json, String field, Images images) {
        String path = string(json, field);
        try {
            Path file = images.localFile(path);
            return ImageFiles.readRgb(file);
        } catch (IOException | RuntimeException e) {
            throw new InvalidRequestException(field, "\"" + field + "\": cannot read " + path + ": " + e.getMessage());
        }
    }

    private static String string(Map<String, ?> json, String field) {
        Object v = json.get(field);
        if (!(v instanceof String s)) {
            throw new InvalidRequestException(field, "\"" + field + "\" must be a string, got " + describe(v));
        }
        return s;
    }

    private static double number(Map<String, ?> json, String field) {
        Object v = json.get(field);
        if (!(v instanceof Number n)) {
            throw new InvalidRequestException(field, "\"" + field + "\" must be a number, got " + describe(v));
        }
        return n.doubleValue();
    }

    /** A whole number; 512.0 counts, 512.5 and 1e30 do not. */
    private static long integer(Map<String, ?> json, String field) {
        Object v = json.get(field);
        if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 0x1p53) {
            return d.longValue();
        }
        throw new InvalidRequestException(field, "\"" + field + "\" must be a whole number"
                + (v instanceof Number ? " within ±2^63" : "") + ", got " + describe(v));
    }

    private static int intOr(Map<String, ?> json, String field, int absent) {
        if (json.get(field) == null) {
            return absent;
        }
        long v = integer(json, field);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new InvalidRequestException(field, "\"" + field + "\" is out of range: " + v);
        }
        return (int) v;
    }

    private static String describe(Object v) {
        if (v instanceof String s) {
            return "the string \"" + s + "\"";
        }
        if (v instanceof Map) {
            return "an object";
        }
        if (v instanceof List) {
            return "an array";
        }
        return String.valueOf(v);
    }

    /** "did you mean" for a near miss (a typo or camelCase for snake_case). */
    private static String suggestion(String key) {
        String norm = key.replaceAll("([a-z])([A-Z])", "$1_$2").replace('-', '_').toLowerCase(java.util.Locale.ROOT);
        String best = null;
        int bestDistance = 3;
        for (String f : FIELDS) {
            int d = f.equals(norm) ? 0 : distance(norm, f);
            if (d < bestDistance) {
                best = f;
                bestDistance = d;
            }
        }
        return best == null ? "" : "; did you mean \"" + best + "\"?";
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
