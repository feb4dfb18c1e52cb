package io.github.zimage4j.pipeline;

import io.github.zimage4j.io.AtomicFiles;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.io.TextFiles;
import io.github.zimage4j.tensor.StoredTensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad model files and numbers are refused where they can first be seen, with the place named. */
class InputValidationTest {

    @TempDir
    Path tmp;

    @Test
    void integerWeightsAreRefusedAtLoad() throws IOException {
        Path model = tmp.resolve("m");
        TinyModel.write(model, 2);
        Path vae = model.resolve("vae/diffusion_pytorch_model.safetensors");
        rewrite(vae, "decoder.conv_out.bias", t -> new SafeTensorsWriter.Entry(t.name(), DType.I16, t.shape(), t.numel() * 2,
                out -> out.write(new byte[(int) t.numel() * 2])));
        ModelFileException e = assertThrows(ModelFileException.class, () -> ZImagePipeline.load(
                ModelFiles.resolve(model.toString(), ModelFiles.Overrides.none()), new ZImagePipeline.Options("java", null)));
        assertTrue(e.getMessage().contains("decoder.conv_out.bias") && e.getMessage().contains("I16")
                && e.getMessage().contains("floating-point"), e.getMessage());
    }

    @Test
    void aNaNIsNamedAtTheStageThatMadeIt() throws IOException {
        Path model = tmp.resolve("m");
        TinyModel.write(model, 2);
        Path dit = model.resolve("transformer/diffusion_pytorch_model.safetensors");
        String name = "all_final_layer.2-1.linear.bias";
        rewrite(dit, name, t -> {
            short[] nan = new short[(int) t.numel()];
            java.util.Arrays.fill(nan, (short) 0x7FC0); // bf16 NaN
            ByteBuffer bb = ByteBuffer.allocate(nan.length * 2).order(ByteOrder.LITTLE_ENDIAN);
            bb.asShortBuffer().put(nan);
            return new SafeTensorsWriter.Entry(t.name(), DType.BF16, t.shape(), nan.length * 2L, out -> out.write(bb.array()));
        });
        try (ZImagePipeline pipe = ZImagePipeline.load(ModelFiles.resolve(model.toString(), ModelFiles.Overrides.none()),
                new ZImagePipeline.Options("java", null))) {
            ArithmeticException e = assertThrows(ArithmeticException.class,
                    () -> pipe.generate(GenerationRequest.builder().prompt("fox").size(32, 32).steps(2).seed(1L).build()));
            assertTrue(e.getMessage().startsWith("the transformer output at step 1 of 2 (image 0)"), e.getMessage());
            assertTrue(e.getMessage().contains("NaN"), e.getMessage());
        }
    }

    @Test
    void anEmptyOrBrokenModelIndexIsAnError() throws IOException {
        Path model = tmp.resolve("m");
        TinyModel.write(model, 2);
        for (String bad : new String[]{"", "{\"_class_name\": ", "[1, 2]"}) {
            Files.writeString(model.resolve("model_index.json"), bad);
            ModelFileException e = assertThrows(ModelFileException.class,
                    () -> ModelFiles.resolve(model.toString(), ModelFiles.Overrides.none()), bad);
            assertTrue(e.getMessage().contains("model_index.json"), e.getMessage());
        }
    }

    @Test
    void textFilesAreStrictUtf8WithoutBom() throws IOException {
        assertEquals("fox", TextFiles.decodeUtf8(new byte[]{(byte) 0xEF, (byte) 0xBB, (byte) 0xBF, 'f', 'o', 'x'}, "p"));
        assertEquals("狐", TextFiles.decodeUtf8("狐".getBytes(StandardCharsets.UTF_8), "p"));
        ModelFileException e = assertThrows(ModelFileException.class,
                () -> TextFiles.decodeUtf8(new byte[]{'a', 'b', (byte) 0xC3, '(', 'z'}, "prompt.txt"));
        assertTrue(e.getMessage().contains("prompt.txt") && e.getMessage().contains("byte offset 2")
                && e.getMessage().contains("0xC3"), e.getMessage());
        e = assertThrows(ModelFileException.class, () -> TextFiles.decodeUtf8(new byte[]{(byte) 0xFF, (byte) 0xFE, 'a', 0}, "w.txt"));
        assertTrue(e.getMessage().contains("UTF-16"), e.getMessage());
        e = assertThrows(ModelFileException.class, () -> TextFiles.readUtf8(tmp));
        assertTrue(e.getMessage().contains("is a folder"), e.getMessage());
    }

    @Test
    void atomicWritesLeaveNothingBehindAndReplaceNothingUnasked() throws IOException {
        Path target = tmp.resolve("out.bin");
        assertThrows(IOException.class, () -> AtomicFiles.write(target, false, t -> {
            Files.writeString(t, "half");
            throw new IOException("disk full");
        }));
        assertEquals(List.of(), list(tmp), "no temporary file after a failure");
        AtomicFiles.write(target, false, t -> Files.writeString(t, "one"));
        assertThrows(FileAlreadyExistsException.class, () -> AtomicFiles.write(target, false, t -> Files.writeString(t, "two")));
        assertEquals("one", Files.readString(target));
        AtomicFiles.write(target, true, t -> Files.writeString(t, "three"));
        assertEquals("three", Files.readString(target));
        // A killed run's temporary (its process id no longer runs) goes with the next write into the folder.
        Path stale = tmp.resolve(".other.png." + deadPid() + "-0badf00d.zimage4j-tmp");
        Files.writeString(stale, "half an image");
        AtomicFiles.write(tmp.resolve("next.bin"), false, t -> Files.writeString(t, "x"));
        assertFalse(Files.exists(stale));
        assertEquals(List.of("next.bin", "out.bin"), list(tmp));
    }

    private static long deadPid() {
        long pid = 4_000_000; // above Linux's pid_max
        while (ProcessHandle.of(pid).isPresent()) {
            pid++;
        }
        return pid;
    }

    private static List<String> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** Rewrites a checkpoint with one tensor replaced. */
    private static void rewrite(Path file, String name, java.util.function.Function<StoredTensor, SafeTensorsWriter.Entry> replace)
            throws IOException {
        Path copy = file.resolveSibling("copy.safetensors");
        Files.copy(file, copy);
        try (SafeTensors st = SafeTensors.open(copy)) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (String n : st.names()) {
                StoredTensor t = st.get(n);
                if (n.equals(name)) {
                    SafeTensorsWriter.Entry e = replace.apply(t);
                    w.add(e.name(), e.dtype(), e.shape(), e.byteSize(), e.content());
                } else {
                    MemorySegment data = t.data();
                    w.add(n, t.dtype(), t.shape(), data);
                }
            }
            w.write(file);
        }
        Files.delete(copy);
    }
}
