package io.github.zimage4j.cli;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.pipeline.CheckpointInfo;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.Variant;
import io.github.zimage4j.scheduler.SchedulerConfig;
import io.github.zimage4j.tensor.StoredTensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/**
 * {@code zimage4j info MODEL|FILE}: what a model is made of, or what one checkpoint file is, from its
 * headers and configs only.
 */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Show a model's variant and, per component, its location, dtypes, tensor count and size;"
                + " or, for one checkpoint FILE (safetensors, shard index or GGUF; ComfyUI, diffusers or llama.cpp names),"
                + " its container, component, layout, dtypes and the config it has or implies.",
                "Reads only headers and configs. Exits non-zero when a file is invalid or does not match its config."})
final class InfoCommand implements Callable<Integer> {

    @Parameters(arity = "0..1", paramLabel = "MODEL|FILE", description = "A diffusers model folder, a Hugging Face repo id"
            + " in the local cache, or one checkpoint file (or component folder).")
    String model;

    @Option(names = "--transformer", paramLabel = "PATH", description = "Transformer weights (overrides MODEL's).")
    Path transformer;

    @Option(names = "--text-encoder", paramLabel = "PATH", description = "Text encoder weights (overrides MODEL's).")
    Path textEncoder;

    @Option(names = "--vae", paramLabel = "PATH", description = "VAE weights (overrides MODEL's).")
    Path vae;

    @Override
    public Integer call() throws Exception {
        if (model != null && transformer == null && textEncoder == null && vae == null) {
            Path p = Path.of(model);
            if (Files.isRegularFile(p) || (Files.isDirectory(p) && !Files.isRegularFile(p.resolve("model_index.json")))) {
                return describe(p);
            }
        }
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
        return 0;
    }

    /** One checkpoint: 0 when it is a valid component matching its config, 1 otherwise. */
    private static int describe(Path path) throws Exception {
        CheckpointInfo info = CheckpointInfo.of(path);
        System.out.println("file:         " + info.file());
        System.out.println("container:    " + switch (info.container()) {
            case SAFETENSORS -> "safetensors";
            case SHARDED_SAFETENSORS -> "sharded safetensors (index)";
            case GGUF -> "GGUF";
        });
        System.out.println("component:    " + info.component() + ", " + info.layout() + " layout");
        System.out.printf("tensors:      %d, %.3f GB%n", info.tensors(), info.bytes() / 1e9);
        StringBuilder types = new StringBuilder();
        info.dtypes().forEach((d, agg) -> types.append(types.isEmpty() ? "" : ", ").append(d.name())
                .append(" (").append(agg[0]).append(agg[0] == 1 ? " tensor)" : " tensors)"));
        System.out.println("dtypes:       " + types);
        System.out.println("config:       " + info.config());
        System.out.println("              (" + info.configFrom() + ")");
        if (!info.check().ok()) {
            System.out.println("check:        FAILED");
            System.out.println(info.check());
            return 1;
        }
        System.out.println("check:        every tensor present with the shape the config implies");
        return 0;
    }

    private static void component(String label, Path weights, Path config) throws Exception {
        try (TensorSource st = Checkpoints.open(weights)) {
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
            byType.forEach((d, agg) -> types.append(types.isEmpty() ? "" : ", ").append(d.name())
                    .append(" (").append(agg[0]).append(" tensors)"));
            System.out.printf("%-13s %s%n", label + ":", st.description());
            System.out.printf("              %d tensors, %.2f GB, %s; config: %s%n", st.names().size(), bytes / 1e9, types,
                    config == null ? "derived from the tensor shapes" : config);
        }
    }
}
