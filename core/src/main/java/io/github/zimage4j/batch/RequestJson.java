package io.github.zimage4j.batch;

import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.tokenizer.Qwen3Tokenizer;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A generation request as a JSON object with snake_case fields, the form the batch job lines, the Spark
 * job and the server's native API share:
 * <pre>
 * {"prompt": "a red fox", "negative_prompt": "", "width": 1024, "height": 1024, "steps": 8, "guidance": 0,
 *  "cfg_normalization": 0, "cfg_truncation": 1.0, "seed": 42, "max_sequence_length": 512}
 * </pre>
 * Only {@code prompt} is required; an absent field or a JSON {@code null} takes the default (1024² pixels,
 * the variant's steps and guidance, no cfg normalization or truncation, a random seed). Every error names
 * the field, the expected type or range and the value found.
 */
public final class RequestJson {

    /** The fields of a request, in the order {@link #toJson} writes them. */
    public static final List<String> FIELDS = List.of("prompt", "negative_prompt", "width", "height", "steps", "guidance",
            "cfg_normalization", "cfg_truncation", "seed", "max_sequence_length");

    public static final int DEFAULT_SIDE = 1024;

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
        for (String key : json.keySet()) {
            if (!FIELDS.contains(key)) {
                throw new InvalidRequestException(key, "unknown field \"" + key + "\"" + suggestion(key)
                        + " (request fields: " + String.join(", ", FIELDS) + ")");
            }
        }
        Object prompt = json.get("prompt");
        if (prompt == null) {
            throw new InvalidRequestException("prompt", "\"prompt\" is required (\"\" is allowed)");
        }
        String text = string(json, "prompt");
        String negative = json.get("negative_prompt") == null ? "" : string(json, "negative_prompt");
        int width = intOr(json, "width", DEFAULT_SIDE);
        int height = intOr(json, "height", DEFAULT_SIDE);
        Integer steps = json.get("steps") == null ? null : intOr(json, "steps", 0);
        Double guidance = json.get("guidance") == null ? null : number(json, "guidance");
        double norm = json.get("cfg_normalization") == null ? 0 : number(json, "cfg_normalization");
        double trunc = json.get("cfg_truncation") == null ? 1.0 : number(json, "cfg_truncation");
        Long seed = json.get("seed") == null ? null : integer(json, "seed");
        int maxLen = intOr(json, "max_sequence_length", Qwen3Tokenizer.DEFAULT_MAX_SEQUENCE_LENGTH);
        try {
            return new GenerationRequest(text, negative, width, height, steps, guidance, norm, trunc, seed, 1, maxLen, null);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(null, e.getMessage());
        }
    }

    /** The fields of {@code request} (one image; its own initial latents are not representable). */
    public static Map<String, Object> toJson(GenerationRequest request) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt", request.prompt());
        m.put("negative_prompt", request.negativePrompt());
        m.put("width", (long) request.width());
        m.put("height", (long) request.height());
        if (request.steps() != null) {
            m.put("steps", (long) request.steps());
        }
        if (request.guidance() != null) {
            m.put("guidance", request.guidance());
        }
        m.put("cfg_normalization", request.cfgNormalization());
        m.put("cfg_truncation", request.cfgTruncation());
        if (request.seed() != null) {
            m.put("seed", request.seed());
        }
        m.put("max_sequence_length", (long) request.maxSequenceLength());
        return m;
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
