package io.github.zimage4j.cli;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.Variant;
import io.github.zimage4j.pipeline.ZImagePipeline;
import io.github.zimage4j.scheduler.SchedulerConfig;
import io.github.zimage4j.tensor.StoredTensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/** {@code zimage4j info MODEL}: what a model is made of, from its headers and configs only. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show a model's variant and, per component, its location, dtypes, tensor count and size. Reads headers, configs and the norm vectors, and exits non-zero when a component cannot be used.")
final class InfoCommand implements Callable<Integer> {

    @Parameters(arity = "0..1", paramLabel = "MODEL", description = "A diffusers model folder or a Hugging Face repo id in the local cache.")
    String model;

    @Option(names = "--transformer", paramLabel = "PATH", description = "Transformer weights (overrides MODEL's).")
    Path transformer;

    @Option(names = "--text-encoder", paramLabel = "PATH", description = "Text encoder weights (overrides MODEL's).")
    Path textEncoder;

    @Option(names = "--vae", paramLabel = "PATH", description = "VAE weights (overrides MODEL's).")
    Path vae;

    @Override
    public Integer call() throws Exception {
        ModelFiles f = ModelFiles.resolve(model, new ModelFiles.Overrides(transformer, textEncoder, vae, null));
        SchedulerConfig sched = f.schedulerConfig() != null ? SchedulerConfig.read(f.schedulerConfig()) : null;
        Variant v = Variant.detect(sched == null ? null : sched.shift(), f.name());
        System.out.println("model:        " + f.name());
        System.out.println("variant:      " + (v == null ? "unknown (pass --variant to generate)" : v.displayName())
                + (sched == null ? "" : " (scheduler shift " + sched.shift() + ")"));
        if (v != null) {
            System.out.println("defaults:     " + v.defaultSteps() + " steps, guidance " + v.defaultGuidance());
        }
        component("transformer", f.transformer(), f.transformerConfig());
        component("text encoder", f.textEncoder(), f.textEncoderConfig());
        component("vae", f.vae(), f.vaeConfig());
        System.out.println("tokenizer:    " + (f.tokenizer() != null ? f.tokenizer() : "bundled Qwen3 tokenizer"));
        // Bind every component as generate would (names, shapes, dtypes, configs against each other): a model
        // that cannot generate is reported here, with a non-zero exit.
        try (ZImagePipeline ignored = ZImagePipeline.load(f, new ZImagePipeline.Options("java", v == null ? Variant.TURBO : v))) {
            System.out.println("check:        every component loads");
            return 0;
        } catch (java.io.IOException | RuntimeException e) {
            System.out.println("check:        FAILED");
            System.err.println("zimage4j: " + Main.describe(e));
            return 1;
        }
    }

    private static void component(String label, Path weights, Path config) throws Exception {
        try (SafeTensors st = SafeTensors.open(weights)) {
            Map<DType, long[]> byType = new TreeMap<>();
            long bytes = 0;
            for (String name : st.names()) {
                StoredTensor t = st.get(name);
                long[] agg = byType.computeIfAbsent(t.dtype(), k -> new long[2]);
                agg[0]++;
                agg[1] += t.numel();
                bytes += t.data().byteSize();
            }
            StringBuilder types = new StringBuilder();
            byType.forEach((d, agg) -> types.append(types.isEmpty() ? "" : ", ").append(d.safetensorsName())
                    .append(" (").append(agg[0]).append(" tensors)"));
            System.out.printf("%-13s %s%n", label + ":", st.description());
            System.out.printf("              %d tensors, %.2f GB, %s; config: %s%n", st.names().size(), bytes / 1e9, types,
                    config == null ? "published defaults" : config);
        }
    }
}
