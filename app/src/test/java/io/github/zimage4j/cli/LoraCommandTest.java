package io.github.zimage4j.cli;

import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.pipeline.TinyModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --lora}, {@code --lora-mode}, {@code --lora-ignore-unmatched} and {@code lora-info} on a tiny random model. */
class LoraCommandTest {

    @TempDir
    static Path model;

    @TempDir
    Path out;

    static Path lora;

    @BeforeAll
    static void tinyModelAndLora() throws IOException {
        TinyModel.write(model, 3);
        long out;
        long in;
        try (SafeTensors t = SafeTensors.open(model.resolve("transformer/diffusion_pytorch_model.safetensors"))) {
            out = t.find("layers.0.attention.to_q.weight").dim(0);
            in = t.find("layers.0.attention.to_q.weight").dim(1);
        }
        int r = 2;
        float[] a = new float[(int) (r * in)];
        float[] b = new float[(int) (out * r)];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) Math.sin(i);
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) Math.cos(i);
        }
        lora = model.resolve("style.safetensors");
        new SafeTensorsWriter()
                .addF32("lora_unet_layers_0_attention_to_q.lora_down.weight", new long[]{r, in}, a)
                .addF32("lora_unet_layers_0_attention_to_q.lora_up.weight", new long[]{out, r}, b)
                .addF32("lora_unet_layers_0_attention_to_q.alpha", new long[0], new float[]{1})
                .addF32("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", new long[]{r, 8}, new float[r * 8])
                .write(lora);
    }

    private GenerateCommandTest.Result generate(String... extra) {
        String[] base = {"generate", "--model", model.toString(), "-p", "a fox", "-W", "32", "-H", "32", "--seed", "1",
                "--steps", "1", "-o", out.resolve("img.png").toString()};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        // The command prints its progress and LoRA report to System.err; picocli's writer gets the errors.
        PrintStream old = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        GenerateCommandTest.Result r;
        try {
            r = GenerateCommandTest.run(args);
        } finally {
            System.setErr(old);
        }
        return new GenerateCommandTest.Result(r.code(), buf.toString(StandardCharsets.UTF_8) + r.err());
    }

    @Test
    void unmatchedKeysFailWithTheirNames() {
        GenerateCommandTest.Result r = generate("--lora", lora + ":0.8");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("1 LoRA keys fit no weight") && r.err().contains("lora_te_text_model_encoder_layers_0_mlp_fc1"),
                r.err());
    }

    @Test
    void appliesTheRestWhenToldToInEitherMode() throws IOException {
        for (String mode : new String[]{"runtime", "merged"}) {
            GenerateCommandTest.Result r = generate("--lora", lora + ":0.8", "--lora-ignore-unmatched", "--lora-mode", mode, "--overwrite");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.err().contains("applied 3 tensors to 1 weights, skipped 0 duplicate tensors, 1 unplaced"), r.err());
            assertTrue(r.err().contains("LoRAs (" + mode + "): 3 tensors applied"), r.err());
            assertEquals("style.safetensors:0.8", PngFiles.readMetadata(out.resolve("img.png")).extra().get("LoRAs"));
        }
    }

    @Test
    void badModeAndMissingFileFailBeforeLoading() {
        GenerateCommandTest.Result r = generate("--lora", lora.toString(), "--lora-mode", "fused");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("'runtime' or 'merged'"), r.err());
        r = generate("--lora", out.resolve("missing.safetensors") + ":0.5");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("missing.safetensors is not a file"), r.err());
    }

    @Test
    void loraInfoListsFormatTargetsAndUnplacedKeys() {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.commandLine().execute("lora-info", lora.toString());
        } finally {
            System.setOut(old);
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, text);
        assertTrue(text.contains("kohya/musubi (lora_unet_), lora_down/lora_up, F32, 4 tensors, 1 modules"), text);
        assertTrue(text.contains("LoRA rank 2, alpha 1 (tensor): 1 modules"), text);
        assertTrue(text.contains("layers.*.attention.to_q"), text);
        assertTrue(text.contains("unplaced keys (1):") && text.contains("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"), text);
    }
}
