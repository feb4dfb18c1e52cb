package io.github.zimage4j.server;

import io.github.zimage4j.controlnet.ControlType;
import io.github.zimage4j.image.ImageFiles;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.lora.LoraSpec;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.Variant;

import java.io.IOException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One validated generation request, whichever API it came through, with every default resolved (steps and
 * guidance from the loaded model's variant, a drawn seed), so a job shows the exact settings from the start.
 *
 * @param previewEvery send a preview every this many steps (0 = none)
 * @param inputs       images for image to image, inpainting and ControlNet ({@link Inputs#NONE} for text to image)
 * @param loras        LoRAs from the server's catalog, with strengths (empty: none)
 */
public record ImageParams(String prompt, String negativePrompt, int width, int height, int steps, double guidance,
                          double cfgNormalization, double cfgTruncation, long seed, int count, int previewEvery,
                          Inputs inputs, List<LoraCatalog.Choice> loras) {

    /**
     * The image inputs, decoded when the request arrives; null fields are unset (strength and control scale
     * then take the library's defaults: 0.6 image to image, 1.0 inpainting, control scale 0.75).
     */
    public record Inputs(UInt8Image initImage, Double strength, UInt8Image mask, UInt8Image controlImage,
                         ControlType controlType, Double controlScale) {
        public static final Inputs NONE = new Inputs(null, null, null, null, null, null);
    }

    /** The native API's fields (snake_case; the batch JSONL lines use the same names). */
    static final Set<String> NATIVE_FIELDS = Set.of("prompt", "negative_prompt", "width", "height", "steps", "guidance",
            "cfg_normalization", "cfg_truncation", "seed", "n", "batch_size", "loras", "preview_every", "model",
            "init_image", "strength", "mask", "control_image", "control_type", "control_scale");

    /** Largest seed: JavaScript's exact integers, so the page round-trips every seed. */
    static final long MAX_SEED = (1L << 53) - 1;

    /** Parses the native API's request. */
    static ImageParams fromNative(Fields f, Limits limits, Variant variant, boolean controlNetLoaded, LoraCatalog catalog) {
        f.requireOnly(NATIVE_FIELDS);
        String prompt = prompt(f, "prompt", limits);
        String negative = checkPrompt("negative_prompt", f.string("negative_prompt", ""), limits);
        Inputs inputs = inputs(f, controlNetLoaded);
        int width;
        int height;
        if (!f.has("width") && !f.has("height") && inputs.initImage() != null) {
            // As the library does: the init image's size, rounded down to multiples of 16.
            width = inputs.initImage().width() / 16 * 16;
            height = inputs.initImage().height() / 16 * 16;
            checkSize("init_image", "init_image", width, height, limits);
        } else {
            width = f.integer("width", 1024L, 16, limits.maxSide()).intValue();
            height = f.integer("height", 1024L, 16, limits.maxSide()).intValue();
            checkSize("width", "height", width, height, limits);
        }
        if (f.has("n") && f.has("batch_size")) {
            throw ApiException.badField("batch_size", "give either n or batch_size, not both");
        }
        String countField = f.has("n") ? "n" : "batch_size";
        int count = f.integer(countField, 1L, 1, limits.maxBatch()).intValue();
        int steps = f.integer("steps", (long) variant.defaultSteps(), 1, limits.maxSteps()).intValue();
        double guidance = f.number("guidance", variant.defaultGuidance(), 0, 100);
        double norm = f.number("cfg_normalization", 0.0, 0, 100);
        double trunc = f.number("cfg_truncation", 1.0, 0, 1);
        long seed = seed(f.integer("seed", null, 0, MAX_SEED));
        int previews = f.integer("preview_every", 0L, 0, limits.maxSteps()).intValue();
        List<LoraCatalog.Choice> loras = loras(f, "loras", catalog);
        return new ImageParams(prompt, negative, width, height, steps, guidance, norm, trunc, seed, count, previews, inputs, loras);
    }

    /** The image inputs: each a base64 PNG or JPEG (a data: URL too), decoded in memory, never a path. */
    static Inputs inputs(Fields f, boolean controlNetLoaded) {
        UInt8Image init = image(f, "init_image", false);
        UInt8Image mask = image(f, "mask", true);
        UInt8Image control = image(f, "control_image", false);
        Double strength = f.number("strength", null, 0, 1);
        Double controlScale = f.number("control_scale", null, 0, 10);
        String type = f.string("control_type", null);
        if (mask != null && init == null) {
            throw ApiException.badField("mask", "needs init_image (the image to inpaint)");
        }
        if (strength != null && init == null) {
            throw ApiException.badField("strength", "applies to an init_image; none was given");
        }
        if ((type != null || controlScale != null) && control == null) {
            throw ApiException.badField(type != null ? "control_type" : "control_scale", "applies to a control_image; none was given");
        }
        if (control != null && !controlNetLoaded) {
            throw ApiException.badField("control_image", "no ControlNet is loaded (start the server with --controlnet FILE)");
        }
        ControlType controlType;
        try {
            controlType = type == null ? null : ControlType.parse(type);
        } catch (IllegalArgumentException e) {
            throw ApiException.badField("control_type", e.getMessage());
        }
        return new Inputs(init, strength, mask, control, controlType, controlScale);
    }

    private static UInt8Image image(Fields f, String field, boolean gray) {
        String text = f.string(field, null);
        if (text == null) {
            return null;
        }
        if (text.startsWith("data:")) {
            int comma = text.indexOf(',');
            if (comma < 0 || !text.substring(0, comma).endsWith(";base64")) {
                throw ApiException.badField(field, "a data: URL must be base64 (data:image/png;base64,...)");
            }
            text = text.substring(comma + 1);
        }
        byte[] bytes;
        try {
            bytes = Base64.getMimeDecoder().decode(text);
        } catch (IllegalArgumentException e) {
            throw ApiException.badField(field, "must be a base64 PNG or JPEG: " + e.getMessage());
        }
        try {
            return gray ? ImageFiles.readGray(bytes, field) : ImageFiles.readRgb(bytes, field);
        } catch (IOException e) {
            throw new ApiException(400, field, e.getMessage(), 0);
        }
    }

    static String prompt(Fields f, String field, Limits limits) {
        String p = f.string(field, null);
        if (p == null) {
            throw ApiException.badField(field, "is required");
        }
        return checkPrompt(field, p, limits);
    }

    static String checkPrompt(String field, String text, Limits limits) {
        if (text.length() > limits.maxPromptChars()) {
            throw ApiException.badField(field, "at most " + limits.maxPromptChars() + " characters, got " + text.length());
        }
        return text;
    }

    static void checkSize(String widthField, String heightField, int width, int height, Limits limits) {
        int m = GenerationRequest.SIZE_MULTIPLE;
        if (width % m != 0) {
            throw ApiException.badField(widthField, "must be a multiple of " + m + ", got " + width + " (nearest: " + nearest(width) + ")");
        }
        if (height % m != 0) {
            throw ApiException.badField(heightField, "must be a multiple of " + m + ", got " + height + " (nearest: " + nearest(height) + ")");
        }
        if (width > limits.maxSide() || height > limits.maxSide()) {
            throw ApiException.badField(width > limits.maxSide() ? widthField : heightField,
                    "at most " + limits.maxSide() + " pixels per side, got " + width + "x" + height);
        }
        if ((long) width * height > limits.maxPixels()) {
            throw ApiException.badField(widthField.equals(heightField) ? widthField : widthField + "/" + heightField,
                    width + "x" + height + " is " + (long) width * height + " pixels; at most " + limits.maxPixels());
        }
    }

    private static int nearest(int v) {
        return Math.max(16, Math.round(v / 16f) * 16);
    }

    /** The LoRAs a request names from the catalog. */
    static List<LoraCatalog.Choice> loras(Fields f, String field, LoraCatalog catalog) {
        return catalog.parse(f, field);
    }

    /** The given seed, or a drawn one (32 bits, as the command line draws them). */
    static long seed(Long given) {
        return given != null ? given : new SecureRandom().nextLong() & 0xFFFFFFFFL;
    }

    public GenerationRequest toRequest() {
        return GenerationRequest.builder().prompt(prompt).negativePrompt(negativePrompt).size(width, height)
                .steps(steps).guidance(guidance).cfgNormalization(cfgNormalization).cfgTruncation(cfgTruncation)
                .seed(seed).count(count)
                .initImage(inputs.initImage()).strength(inputs.strength()).mask(inputs.mask())
                .controlImage(inputs.controlImage()).controlType(inputs.controlType()).controlScale(inputs.controlScale())
                .loras(loras.stream().map(l -> new LoraSpec(l.file(), l.strength())).toList())
                .build();
    }

    /** The settings in the native API's field names (what "reuse settings" sends back). */
    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt", prompt);
        m.put("negative_prompt", negativePrompt);
        m.put("width", width);
        m.put("height", height);
        m.put("steps", steps);
        m.put("guidance", guidance);
        m.put("cfg_normalization", cfgNormalization);
        m.put("cfg_truncation", cfgTruncation);
        m.put("seed", seed);
        m.put("batch_size", count);
        if (!loras.isEmpty()) {
            m.put("loras", loras.stream().map(l -> Map.<String, Object>of("path", l.name(), "strength", l.strength())).toList());
        }
        if (inputs.initImage() != null) {
            m.put("strength", inputs.strength() != null ? inputs.strength() : inputs.mask() != null
                    ? GenerationRequest.DEFAULT_INPAINT_STRENGTH : GenerationRequest.DEFAULT_IMG2IMG_STRENGTH);
        }
        if (inputs.controlImage() != null) {
            m.put("control_type", inputs.controlType() == null ? null : inputs.controlType().cliName());
            m.put("control_scale", inputs.controlScale() != null ? inputs.controlScale() : GenerationRequest.DEFAULT_CONTROL_SCALE);
        }
        return m;
    }
}
