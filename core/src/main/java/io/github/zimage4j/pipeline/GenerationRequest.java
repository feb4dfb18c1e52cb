package io.github.zimage4j.pipeline;

import io.github.zimage4j.controlnet.ControlType;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.lora.LoraSpec;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.tokenizer.Qwen3Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What to generate: built with {@link #builder()} (or {@link #of} for prompt and size), changed with
 * {@link #toBuilder()}. Every field is a plain value; unset ones take the defaults {@link #resolve} gives.
 *
 * <p>The mode follows from the inputs, as diffusers picks a pipeline:
 * <ul>
 *   <li>text to image: no init image;</li>
 *   <li>image to image ({@code ZImageImg2ImgPipeline}): {@link #initImage()}, {@link #strength()};</li>
 *   <li>inpainting ({@code ZImageInpaintPipeline}): init image plus {@link #mask()} (white = repaint);</li>
 *   <li>ControlNet ({@code ZImageControlNetPipeline}): {@link #controlImage()} with a ControlNet loaded; with
 *       a mask and init image too, a 2.x ControlNet inpaints ({@code ZImageControlNetInpaintPipeline}).</li>
 * </ul>
 *
 * <p>Fields:
 * <ul>
 *   <li>{@code prompt}: the prompt (Chinese or English); required ("" is allowed).</li>
 *   <li>{@code negativePrompt}: used only with guidance; default "".</li>
 *   <li>{@code width}, {@code height}: pixels, multiples of 16; each defaults to the init image's, rounded down
 *       to a multiple of 16 (a {@link #notes() note} says so), else to 1024.</li>
 *   <li>{@code steps}: denoising steps of the full schedule; default the variant's (Turbo 8, base 50). Image to
 *       image runs the last {@code strength} part of it.</li>
 *   <li>{@code guidance}: g in {@code pos + g·(pos − neg)} (the usual CFG scale − 1); default the variant's.</li>
 *   <li>{@code cfgNormalization}: 0 = off; c &gt; 0 caps ‖pred‖ at c·‖pos‖. {@code cfgTruncation}: 1.0 = never;
 *       guidance is skipped where the model time 1 − σ exceeds it.</li>
 *   <li>{@code seed}: seed of image 0, image i uses seed + i; default random. {@code count}: images, default 1.</li>
 *   <li>{@code maxSequenceLength}: prompt token limit, default 512; longer prompts are truncated.</li>
 *   <li>{@code initImage}: RGB start image, resized (Lanczos) to width × height when it differs.</li>
 *   <li>{@code strength}: in [0, 1], how much of the schedule re-noises the init image; default 0.6 for image
 *       to image and 1.0 for inpainting (the references' defaults).</li>
 *   <li>{@code mask}: gray (or RGB, converted) inpainting mask, white (≥ 128) = repaint, black = keep; resized
 *       (Lanczos) to width × height when it differs.</li>
 *   <li>{@code controlImage}: the control image (an edge, depth, pose, HED map … or a photo to preprocess),
 *       resized (Lanczos) to width × height when it differs.</li>
 *   <li>{@code controlType}: how the control image is prepared ({@link ControlType}); default none: the
 *       image is a ready control map (depth, pose, HED, edges …), used as given.</li>
 *   <li>{@code controlScale}: multiplies every ControlNet hint; default 0.75 (diffusers'
 *       {@code controlnet_conditioning_scale}).</li>
 *   <li>{@code initialLatents}, {@code initImageNoise}: the random draws of image 0 ([16, 1, h, w] noise, and
 *       [16, h, w] for the init image's posterior sample) instead of drawing them from the seed, to
 *       reproduce another tool's exact draws; default from the seed.</li>
 *   <li>{@code loras}: LoRA files with their strengths, applied together; default none. Changing them between
 *       requests only rebinds the transformer (each file is read once).</li>
 * </ul>
 */
public final class GenerationRequest {

    /** The VAE downsamples by 8 and the transformer patches by 2. */
    public static final int SIZE_MULTIPLE = 16;
    /** Largest side: 512 patch positions (the transformer's axes_lens) × 16 pixels. */
    public static final int MAX_SIDE = 8192;
    /** Most images per request: all of them are held in memory until the last one is decoded. */
    public static final int MAX_COUNT = 100;
    /** Largest guidance scale g (CFG scale 51): far beyond any useful value, but finite. */
    public static final double MAX_GUIDANCE = 50;
    /** Width and height without an init image. */
    public static final int DEFAULT_SIDE = 1024;
    /** diffusers' {@code ZImageImg2ImgPipeline} default strength. */
    public static final double DEFAULT_IMG2IMG_STRENGTH = 0.6;
    /** diffusers' {@code ZImageInpaintPipeline} default strength. */
    public static final double DEFAULT_INPAINT_STRENGTH = 1.0;
    /** diffusers' {@code controlnet_conditioning_scale} default. */
    public static final double DEFAULT_CONTROL_SCALE = 0.75;

    private final String prompt;
    private final String negativePrompt;
    private final int width;
    private final int height;
    private final Integer steps;
    private final Double guidance;
    private final double cfgNormalization;
    private final double cfgTruncation;
    private final Long seed;
    private final int count;
    private final int maxSequenceLength;
    private final Tensor initialLatents;
    private final UInt8Image initImage;
    private final Tensor initImageNoise;
    private final Double strength;
    private final UInt8Image mask;
    private final UInt8Image controlImage;
    private final ControlType controlType;
    private final Double controlScale;
    private final List<LoraSpec> loras;
    private final List<String> notes;
    /** Whether width and height were set rather than derived. */
    private final boolean widthGiven;
    private final boolean heightGiven;

    private GenerationRequest(Builder b) {
        if (b.prompt == null) {
            throw new IllegalArgumentException("a prompt is required (\"\" is allowed)");
        }
        requireNoNul("the prompt", b.prompt);
        if (b.negativePrompt != null) {
            requireNoNul("the negative prompt", b.negativePrompt);
        }
        List<String> notes = new ArrayList<>();
        // Each unset side (0) comes from the init image, rounded down to a multiple of 16 as diffusers does, else 1024.
        int w = b.width != 0 ? b.width : b.initImage != null ? b.initImage.width() / SIZE_MULTIPLE * SIZE_MULTIPLE : DEFAULT_SIDE;
        int h = b.height != 0 ? b.height : b.initImage != null ? b.initImage.height() / SIZE_MULTIPLE * SIZE_MULTIPLE : DEFAULT_SIDE;
        if (b.initImage != null && (w != b.initImage.width() || h != b.initImage.height())) {
            notes.add("the init image is " + b.initImage.width() + "x" + b.initImage.height() + "; generating " + w + "x" + h
                    + (b.width == 0 || b.height == 0 ? " (multiples of " + SIZE_MULTIPLE + ")" : "") + ", the image resized to it");
        }
        if (w <= 0 || h <= 0 || w % SIZE_MULTIPLE != 0 || h % SIZE_MULTIPLE != 0) {
            throw new IllegalArgumentException("width and height must be positive multiples of " + SIZE_MULTIPLE
                    + ", got " + w + "x" + h + nearest(w, h));
        }
        if (w > MAX_SIDE || h > MAX_SIDE) {
            // The RoPE tables cover 512 patch positions per axis.
            throw new IllegalArgumentException("at most " + MAX_SIDE + " pixels per side, got " + w + "x" + h);
        }
        if (b.steps != null && b.steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, got " + b.steps);
        }
        if (b.guidance != null && !(b.guidance >= 0 && b.guidance <= MAX_GUIDANCE)) {
            throw new IllegalArgumentException("guidance must be a number from 0 to " + (int) MAX_GUIDANCE + ", got " + b.guidance);
        }
        if (!(b.cfgNormalization >= 0) || Double.isInfinite(b.cfgNormalization)) {
            throw new IllegalArgumentException("cfg normalization must be a finite number ≥ 0 (0 = off), got " + b.cfgNormalization);
        }
        if (!(b.cfgTruncation >= 0 && b.cfgTruncation <= 1)) {
            throw new IllegalArgumentException("cfg truncation must be a number from 0 to 1 (1 = never truncate), got " + b.cfgTruncation);
        }
        if (b.count < 1 || b.count > MAX_COUNT) {
            throw new IllegalArgumentException("the image count must be from 1 to " + MAX_COUNT + ", got " + b.count);
        }
        if (b.maxSequenceLength < 1) {
            throw new IllegalArgumentException("max sequence length must be at least 1, got " + b.maxSequenceLength);
        }
        if (b.initialLatents != null) {
            requireShape("initial latents", b.initialLatents, new int[]{16, 1, h / 8, w / 8}, w, h);
        }
        if (b.initImage != null && b.initImage.channels() != 3) {
            throw new IllegalArgumentException("the init image must be RGB, got " + b.initImage);
        }
        if (b.initImageNoise != null) {
            if (b.initImage == null) {
                throw new IllegalArgumentException("init image noise is given but there is no init image");
            }
            requireShape("init image noise", b.initImageNoise, new int[]{16, h / 8, w / 8}, w, h);
        }
        if (b.strength != null) {
            if (!(b.strength >= 0 && b.strength <= 1)) {
                throw new IllegalArgumentException("strength must be in [0.0, 1.0], got " + b.strength);
            }
            if (b.initImage == null) {
                throw new IllegalArgumentException("strength " + b.strength + " needs an init image (image to image or inpainting)");
            }
        }
        if (b.mask != null && b.initImage == null) {
            throw new IllegalArgumentException("a mask needs an init image: the mask says which of its pixels to repaint");
        }
        if (b.mask != null && b.mask.channels() != 1 && b.mask.channels() != 3) {
            throw new IllegalArgumentException("the mask must be gray or RGB, got " + b.mask);
        }
        if (b.controlImage != null && b.controlImage.channels() != 3) {
            throw new IllegalArgumentException("the control image must be RGB, got " + b.controlImage);
        }
        if ((b.controlType != null || b.controlScale != null) && b.controlImage == null) {
            throw new IllegalArgumentException("a control type or scale is given but there is no control image");
        }
        if (b.controlScale != null && (!Double.isFinite(b.controlScale))) {
            throw new IllegalArgumentException("control scale must be a finite number, got " + b.controlScale);
        }
        this.prompt = b.prompt;
        this.negativePrompt = b.negativePrompt == null ? "" : b.negativePrompt;
        this.width = w;
        this.height = h;
        this.steps = b.steps;
        this.guidance = b.guidance;
        this.cfgNormalization = b.cfgNormalization;
        this.cfgTruncation = b.cfgTruncation;
        this.seed = b.seed;
        this.count = b.count;
        this.maxSequenceLength = b.maxSequenceLength;
        this.initialLatents = b.initialLatents;
        this.initImage = b.initImage;
        this.initImageNoise = b.initImageNoise;
        this.strength = b.strength;
        this.mask = b.mask;
        this.controlImage = b.controlImage;
        this.controlType = b.controlType;
        this.controlScale = b.controlScale;
        this.loras = List.copyOf(b.loras);
        this.notes = List.copyOf(notes);
        this.widthGiven = b.width != 0;
        this.heightGiven = b.height != 0;
    }

    private static void requireShape(String what, Tensor t, int[] expected, int w, int h) {
        if (!Arrays.equals(t.shape(), expected)) {
            throw new IllegalArgumentException(what + " must be " + Arrays.toString(expected) + " for " + w + "x" + h
                    + ", got " + Arrays.toString(t.shape()));
        }
    }

    /** PNG text chunks end strings at a NUL, so a prompt holding one could not be stored with its image. */
    private static void requireNoNul(String what, String text) {
        int at = text.indexOf('\0');
        if (at >= 0) {
            throw new IllegalArgumentException(what + " holds a NUL character (at position " + at
                    + "), which PNG metadata cannot store; remove it");
        }
    }

    private static String nearest(int w, int h) {
        if (w <= 0 || h <= 0) {
            return "";
        }
        int nw = Math.max(SIZE_MULTIPLE, Math.round(w / (float) SIZE_MULTIPLE) * SIZE_MULTIPLE);
        int nh = Math.max(SIZE_MULTIPLE, Math.round(h / (float) SIZE_MULTIPLE) * SIZE_MULTIPLE);
        return " (nearest valid: " + nw + "x" + nh + ")";
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A request with the reference defaults for everything but prompt and size. */
    public static GenerationRequest of(String prompt, int width, int height) {
        return builder().prompt(prompt).size(width, height).build();
    }

    /** A builder holding this request's values (the sides only where they were given, not derived). */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.prompt = prompt;
        b.negativePrompt = negativePrompt;
        b.width = widthGiven ? width : 0;
        b.height = heightGiven ? height : 0;
        b.steps = steps;
        b.guidance = guidance;
        b.cfgNormalization = cfgNormalization;
        b.cfgTruncation = cfgTruncation;
        b.seed = seed;
        b.count = count;
        b.maxSequenceLength = maxSequenceLength;
        b.initialLatents = initialLatents;
        b.initImage = initImage;
        b.initImageNoise = initImageNoise;
        b.strength = strength;
        b.mask = mask;
        b.controlImage = controlImage;
        b.controlType = controlType;
        b.controlScale = controlScale;
        b.loras = loras;
        return b;
    }

    /**
     * The concrete settings of a run: every default resolved for the model variant, in one place.
     * {@code controlType} is null for a ready control map.
     */
    public record Settings(int steps, double guidance, Guidance cfg, long seed, double strength, ControlType controlType,
                           double controlScale) {
    }

    /**
     * Resolves the defaults: steps and guidance from {@code variant}, a random seed when none is set, the
     * strength (1.0 for text to image; 0.6 image to image; 1.0 inpainting) and the control scale. The control
     * type stays null when unset: the control image is a ready map, used as given.
     */
    public Settings resolve(Variant variant) {
        int s = steps != null ? steps : variant.defaultSteps();
        double g = guidance != null ? guidance : variant.defaultGuidance();
        long sd = seed != null ? seed : new java.security.SecureRandom().nextLong() & 0xFFFFFFFFL;
        double st = strength != null ? strength
                : initImage == null ? 1.0 : mask != null ? DEFAULT_INPAINT_STRENGTH : DEFAULT_IMG2IMG_STRENGTH;
        return new Settings(s, g, new Guidance(g, cfgNormalization, cfgTruncation), sd, st,
                controlType,
                controlScale != null ? controlScale : DEFAULT_CONTROL_SCALE);
    }

    public String prompt() {
        return prompt;
    }

    public String negativePrompt() {
        return negativePrompt;
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    public Integer steps() {
        return steps;
    }

    public Double guidance() {
        return guidance;
    }

    public double cfgNormalization() {
        return cfgNormalization;
    }

    public double cfgTruncation() {
        return cfgTruncation;
    }

    public Long seed() {
        return seed;
    }

    public int count() {
        return count;
    }

    public int maxSequenceLength() {
        return maxSequenceLength;
    }

    public Tensor initialLatents() {
        return initialLatents;
    }

    public UInt8Image initImage() {
        return initImage;
    }

    public Tensor initImageNoise() {
        return initImageNoise;
    }

    public Double strength() {
        return strength;
    }

    public UInt8Image mask() {
        return mask;
    }

    public UInt8Image controlImage() {
        return controlImage;
    }

    public ControlType controlType() {
        return controlType;
    }

    public Double controlScale() {
        return controlScale;
    }

    public List<LoraSpec> loras() {
        return loras;
    }

    /** What {@link Builder#build()} decided on the caller's behalf (e.g. a rounded size), for the user to see. */
    public List<String> notes() {
        return notes;
    }

    /** Collects the fields; {@link #build()} validates them all. */
    public static final class Builder {
        private String prompt;
        private String negativePrompt = "";
        private int width;
        private int height;
        private Integer steps;
        private Double guidance;
        private double cfgNormalization;
        private double cfgTruncation = 1.0;
        private Long seed;
        private int count = 1;
        private int maxSequenceLength = Qwen3Tokenizer.DEFAULT_MAX_SEQUENCE_LENGTH;
        private Tensor initialLatents;
        private UInt8Image initImage;
        private Tensor initImageNoise;
        private Double strength;
        private UInt8Image mask;
        private UInt8Image controlImage;
        private ControlType controlType;
        private Double controlScale;
        private List<LoraSpec> loras = List.of();

        private Builder() {
        }

        public Builder prompt(String p) {
            prompt = p;
            return this;
        }

        public Builder negativePrompt(String n) {
            negativePrompt = n;
            return this;
        }

        /** Width and height in pixels; 0 = the default (the init image's, rounded down to a multiple of 16; else 1024). */
        public Builder size(int w, int h) {
            width = w;
            height = h;
            return this;
        }

        public Builder steps(Integer s) {
            steps = s;
            return this;
        }

        public Builder guidance(Double g) {
            guidance = g;
            return this;
        }

        public Builder cfgNormalization(double c) {
            cfgNormalization = c;
            return this;
        }

        public Builder cfgTruncation(double t) {
            cfgTruncation = t;
            return this;
        }

        public Builder seed(Long s) {
            seed = s;
            return this;
        }

        public Builder count(int c) {
            count = c;
            return this;
        }

        public Builder maxSequenceLength(int n) {
            maxSequenceLength = n;
            return this;
        }

        public Builder initialLatents(Tensor t) {
            initialLatents = t;
            return this;
        }

        public Builder initImage(UInt8Image image) {
            initImage = image;
            return this;
        }

        public Builder initImageNoise(Tensor eps) {
            initImageNoise = eps;
            return this;
        }

        public Builder strength(Double s) {
            strength = s;
            return this;
        }

        public Builder mask(UInt8Image m) {
            mask = m;
            return this;
        }

        public Builder controlImage(UInt8Image image) {
            controlImage = image;
            return this;
        }

        public Builder controlType(ControlType t) {
            controlType = t;
            return this;
        }

        public Builder controlScale(Double s) {
            controlScale = s;
            return this;
        }

        /** LoRAs with their strengths (empty: none). */
        public Builder loras(List<LoraSpec> l) {
            loras = l == null ? List.of() : List.copyOf(l);
            return this;
        }

        public GenerationRequest build() {
            return new GenerationRequest(this);
        }
    }
}
