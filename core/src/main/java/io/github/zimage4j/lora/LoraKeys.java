package io.github.zimage4j.lora;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Reads one LoRA tensor key: which diffusers module it belongs to and which part of the update it is.
 * Every key format in the wild reduces to this: a writer's prefix ({@code transformer.}, {@code diffusion_model.},
 * {@code lora_unet_}, …), a module path (dotted, or flattened with {@code _} by kohya-style trainers, or with
 * {@code to.q} by dotted trainers), and a part suffix ({@code lora_A.weight}, {@code lora_down.weight},
 * {@code lora.down.weight}, {@code alpha}, {@code lokr_w1}, …; PEFT's {@code .default.} is dropped).
 */
final class LoraKeys {

    private LoraKeys() {
    }

    enum Part {
        DOWN, UP, ALPHA, LOKR_W1, LOKR_W2, LOKR_W1_A, LOKR_W1_B, LOKR_W2_A, LOKR_W2_B, LOKR_T2, DORA_SCALE, LOHA
    }

    /** A key's module (diffusers path, e.g. {@code layers.0.attention.to_out.0}), part, and the writer's prefix. */
    record Parsed(String module, Part part, String prefix, String suffix) {
    }

    private static final String[] PREFIXES = {
            "base_model.model.", "model.diffusion_model.", "diffusion_model.", "transformer.", "lora_unet_",
            "lycoris_", "lora_transformer_", "unet."};

    private record Suffix(String text, Part part) {
    }

    private static final Suffix[] SUFFIXES = {
            new Suffix(".lora_A.weight", Part.DOWN), new Suffix(".lora_B.weight", Part.UP),
            new Suffix(".lora_down.weight", Part.DOWN), new Suffix(".lora_up.weight", Part.UP),
            new Suffix(".lora.down.weight", Part.DOWN), new Suffix(".lora.up.weight", Part.UP),
            new Suffix(".alpha", Part.ALPHA),
            new Suffix(".lokr_w1_a", Part.LOKR_W1_A), new Suffix(".lokr_w1_b", Part.LOKR_W1_B),
            new Suffix(".lokr_w2_a", Part.LOKR_W2_A), new Suffix(".lokr_w2_b", Part.LOKR_W2_B),
            new Suffix(".lokr_w1", Part.LOKR_W1), new Suffix(".lokr_w2", Part.LOKR_W2), new Suffix(".lokr_t2", Part.LOKR_T2),
            new Suffix(".dora_scale", Part.DORA_SCALE),
            new Suffix(".hada_w1_a", Part.LOHA), new Suffix(".hada_w1_b", Part.LOHA),
            new Suffix(".hada_w2_a", Part.LOHA), new Suffix(".hada_w2_b", Part.LOHA)};

    /** The key read, or null when its part suffix is not one of a LoRA's. */
    static Parsed parse(String key) {
        String k = key.replace(".default.", ".");
        String prefix = "";
        for (boolean stripped = true; stripped; ) {
            stripped = false;
            for (String p : PREFIXES) {
                if (k.startsWith(p)) {
                    prefix += p;
                    k = k.substring(p.length());
                    stripped = true;
                }
            }
        }
        for (Suffix s : SUFFIXES) {
            if (k.endsWith(s.text()) && k.length() > s.text().length()) {
                return new Parsed(unflatten(k.substring(0, k.length() - s.text().length())), s.part(), prefix, s.text());
            }
        }
        return null;
    }

    /**
     * The diffusers module path of a module name in any spelling: split on both {@code .} and {@code _}, then
     * re-join the words that belong together ({@code to_q}, {@code feed_forward}, {@code noise_refiner},
     * {@code adaLN_modulation}, {@code all_x_embedder}, …) and put dots between the rest. The original layout's
     * {@code x_embedder} and {@code final_layer.*} become diffusers' {@code all_x_embedder.2-1} and
     * {@code all_final_layer.2-1.*} (patch size 2, frame patch 1: every Z-Image model).
     */
    static String unflatten(String name) {
        String[] t = name.split("[._]");
        List<String> out = new ArrayList<>();
        for (int i = 0; i < t.length; i++) {
            String w = t[i];
            String next = i + 1 < t.length ? t[i + 1] : "";
            String next2 = i + 2 < t.length ? t[i + 2] : "";
            if (w.equals("to") && List.of("q", "k", "v", "out", "qkv").contains(next)) {
                out.add("to_" + next);
                i++;
            } else if (w.equals("feed") && next.equals("forward")) {
                out.add("feed_forward");
                i++;
            } else if ((w.equals("noise") || w.equals("context")) && next.equals("refiner")) {
                out.add(w + "_refiner");
                i++;
            } else if (w.toLowerCase(Locale.ROOT).equals("adaln") && next.equals("modulation")) {
                out.add("adaLN_modulation");
                i++;
            } else if (w.equals("all") && (next.equals("x") && next2.equals("embedder") || next.equals("final") && next2.equals("layer"))) {
                out.add("all_" + next + "_" + next2);
                i += 2;
            } else if ((w.equals("cap") || w.equals("t") || w.equals("x")) && next.equals("embedder")) {
                out.add(w + "_embedder");
                i++;
            } else if (w.equals("final") && next.equals("layer")) {
                out.add("final_layer");
                i++;
            } else {
                out.add(w);
            }
        }
        String joined = String.join(".", out);
        // The original (ComfyUI) layout names the patch embedder and final layer without diffusers' "all_…2-1".
        if (joined.equals("x_embedder")) {
            return "all_x_embedder.2-1";
        }
        return joined.startsWith("final_layer.") ? "all_final_layer.2-1." + joined.substring("final_layer.".length()) : joined;
    }

    /** A short name for the key format of one key. */
    static String format(Parsed p) {
        boolean lycoris = p.part().name().startsWith("LOKR");
        String factors = switch (p.suffix()) {
            case ".lora_down.weight", ".lora_up.weight" -> "lora_down/lora_up";
            case ".lora.down.weight", ".lora.up.weight" -> "dotted lora.down/lora.up";
            case ".lora_A.weight", ".lora_B.weight" -> "lora_A/lora_B";
            default -> lycoris ? "LyCORIS LoKr" : p.suffix();
        };
        String writer;
        if (p.prefix().contains("lora_unet_")) {
            writer = "kohya/musubi (lora_unet_)";
        } else if (p.prefix().contains("diffusion_model.")) {
            writer = factors.startsWith("lora_A") ? "ai-toolkit (diffusion_model.)" : "ComfyUI (diffusion_model.)";
        } else if (p.prefix().contains("transformer.")) {
            writer = "diffusers/PEFT (transformer.)";
        } else if (p.prefix().isEmpty()) {
            writer = lycoris ? "LyCORIS (no prefix)" : "PEFT (no prefix)";
        } else {
            writer = p.prefix();
        }
        return writer + ", " + factors;
    }
}
