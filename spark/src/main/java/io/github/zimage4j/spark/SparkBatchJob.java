package io.github.zimage4j.spark;

import io.github.zimage4j.batch.JobFile;
import io.github.zimage4j.batch.ManifestRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.LongAccumulator;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The batch job on Apache Spark: the requests of a JSON Lines file (the format of {@code zimage4j batch})
 * or a Parquet table with the same columns, from any Hadoop-compatible location, made into PNGs in the
 * output location with a manifest dataset beside them.
 *
 * <pre>
 * OUT/&lt;file&gt;.png      one per request, named as zimage4j batch names them (identical bytes)
 * OUT/manifest/       JSON Lines part files: id, status, seed, file, sha256, bytes, seconds, backend, error
 * </pre>
 *
 * The requests are checked on the driver before anything runs (errors with their line numbers). Every
 * executor JVM loads the pipeline once and makes one image at a time. A PNG is written under a temporary
 * name and renamed, and the manifest rows go through Spark's output commit: a retried task leaves neither
 * a half file nor a duplicate row. A re-run skips the ids the manifest and the files show done.
 *
 * <p>From an application: {@code SparkBatchJob.run(spark, new SparkBatchJob.Config(...))}. From the command
 * line: {@code spark-submit --class io.github.zimage4j.spark.SparkBatchJob zimage4j-spark.jar JOBS --out OUT --model MODEL}.
 */
public final class SparkBatchJob {

    /** Where the temporary PNGs of running tasks live (hidden from Hadoop readers; removed at the end). */
    static final String TEMPORARY = "_zimage4j_temporary";
    public static final String MANIFEST = "manifest";

    public static final StructType MANIFEST_SCHEMA = new StructType()
            .add("id", DataTypes.StringType, false)
            .add("status", DataTypes.StringType, false)
            .add("seed", DataTypes.LongType)
            .add("file", DataTypes.StringType)
            .add("sha256", DataTypes.StringType)
            .add("bytes", DataTypes.LongType)
            .add("seconds", DataTypes.DoubleType)
            .add("backend", DataTypes.StringType)
            .add("error", DataTypes.StringType);

    private SparkBatchJob() {
    }

    /**
     * The model every executor loads: a local path on each node (weights are memory-mapped) or a repo id
     * in each node's Hugging Face cache.
     */
    public record Model(String model, String backend, String variant) implements Serializable {
        public Model {
            if (model == null || model.isBlank()) {
                throw new IllegalArgumentException("--model is required");
            }
            backend = backend == null ? "auto" : backend;
        }
    }

    /**
     * @param input       JSON Lines file or Parquet table (a path ending in .parquet, or a folder of Parquet files)
     * @param output      output folder (any Hadoop file system)
     * @param model       the model
     * @param partitions  how many tasks the requests are split into; 0 = Spark's default parallelism
     * @param retryFailed run the requests the manifest records as failed again
     */
    public record Config(String input, String output, Model model, int partitions, boolean retryFailed) implements Serializable {
    }

    /**
     * What a run did.
     *
     * @param total    requests in the input
     * @param skipped  already done before this run
     * @param made     images made by this run
     * @param failed   requests that failed in this run
     * @param manifest every manifest row of the output, this run's and earlier ones'
     */
    public record Result(int total, int skipped, long made, long failed, Dataset<Row> manifest) {
    }

    /** A request shipped to an executor: its id, its PNG's name and its fields as JSON. */
    public record WorkItem(String id, String fileName, String requestJson) implements Serializable {
    }

    public static void main(String[] args) throws IOException {
        Config config;
        try {
            config = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("zimage4j-spark: " + e.getMessage());
            System.err.println("usage: spark-submit zimage4j-spark.jar JOBS.jsonl|JOBS.parquet --out DIR --model MODEL"
                    + " [--backend auto|java|onednn] [--variant turbo|base] [--partitions N] [--retry-failed]");
            System.exit(2);
            return;
        }
        SparkSession spark = SparkSession.builder().appName("zimage4j batch").getOrCreate();
        try {
            Result r = run(spark, config);
            System.err.printf("%d requests: %d done before, %d made, %d failed; manifest %s/%s%n",
                    r.total(), r.skipped(), r.made(), r.failed(), config.output(), MANIFEST);
            if (r.failed() > 0) {
                System.exit(2);
            }
        } finally {
            spark.stop();
        }
    }

    static Config parse(String[] args) {
        String input = null;
        String out = null;
        String model = null;
        String backend = "auto";
        String variant = null;
        int partitions = 0;
        boolean retry = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--out", "-o" -> out = value(args, ++i, a);
                case "--model" -> model = value(args, ++i, a);
                case "--backend" -> backend = value(args, ++i, a);
                case "--variant" -> variant = value(args, ++i, a);
                case "--partitions" -> {
                    String v = value(args, ++i, a);
                    try {
                        partitions = Integer.parseInt(v);
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException("--partitions must be a whole number, got " + v);
                    }
                    if (partitions < 0) {
                        throw new IllegalArgumentException("--partitions must be ≥ 0, got " + v);
                    }
                }
                case "--retry-failed" -> retry = true;
                default -> {
                    if (a.startsWith("-") || input != null) {
                        throw new IllegalArgumentException("unknown argument " + a);
                    }
                    input = a;
                }
            }
        }
        if (input == null || out == null) {
            throw new IllegalArgumentException(input == null ? "no input file" : "--out is required");
        }
        return new Config(input, out, new Model(model, backend, variant), partitions, retry);
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    /** Runs the job; throws before anything runs when the input has problems. */
    public static Result run(SparkSession spark, Config config) throws IOException {
        Configuration hadoop = spark.sparkContext().hadoopConfiguration();
        JobFile jobs = readJobs(spark, config.input());
        Path out = new Path(config.output());
        FileSystem fs = out.getFileSystem(hadoop);
        if (fs.exists(out) && !fs.getFileStatus(out).isDirectory()) {
            throw new IOException("--out " + out + " is a file, not a folder");
        }
        fs.mkdirs(out);
        Path manifestPath = new Path(out, MANIFEST);

        // Done: a done row and the file with its size. Failed rows only count without a done row.
        Map<String, Long> sizes = new HashMap<>();
        for (FileStatus f : fs.listStatus(out)) {
            if (f.isFile()) {
                sizes.put(f.getPath().getName(), f.getLen());
            }
        }
        Map<String, ManifestRecord> earlier = new HashMap<>();
        if (fs.exists(manifestPath)) {
            for (Row r : spark.read().schema(MANIFEST_SCHEMA).json(manifestPath.toString()).collectAsList()) {
                ManifestRecord rec = record(r);
                ManifestRecord seen = earlier.get(rec.id());
                if (seen == null || (!seen.isDone() && rec.isDone())) {
                    earlier.put(rec.id(), rec);
                }
            }
        }
        List<WorkItem> todo = new ArrayList<>();
        Map<List<Object>, List<WorkItem>> byPrompt = new LinkedHashMap<>();
        int skipped = 0;
        for (JobFile.Item item : jobs.items()) {
            ManifestRecord r = earlier.get(item.id());
            boolean done = r != null && r.isDone() && r.bytes().equals(sizes.get(r.file()));
            if (done || (r != null && !r.isDone() && !config.retryFailed())) {
                skipped++;
                continue;
            }
            byPrompt.computeIfAbsent(item.promptKey(), k -> new ArrayList<>()).add(new WorkItem(item.id(), item.fileName(), item.requestJson()));
        }
        byPrompt.values().forEach(todo::addAll);

        long made = 0;
        long failed = 0;
        if (!todo.isEmpty()) {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            int partitions = config.partitions() > 0 ? config.partitions() : jsc.defaultParallelism();
            // Consecutive slices: requests with the same prompt stay together and share one encoding.
            // Only successful task attempts add to an accumulator: a retried task counts once.
            LongAccumulator madeCount = spark.sparkContext().longAccumulator("images made");
            LongAccumulator failedCount = spark.sparkContext().longAccumulator("requests failed");
            JavaRDD<Row> rows = jsc.parallelize(todo, Math.min(partitions, todo.size()))
                    .mapPartitions(new PartitionTask(config.model(), out.toString(), new HadoopConf(hadoop), new HadoopImages(hadoop),
                            madeCount, failedCount));
            spark.createDataFrame(rows, MANIFEST_SCHEMA).write().mode(SaveMode.Append).json(manifestPath.toString());
            fs.delete(new Path(out, TEMPORARY), true);
            made = madeCount.value();
            failed = failedCount.value();
        }
        Dataset<Row> manifest = fs.exists(manifestPath) ? spark.read().schema(MANIFEST_SCHEMA).json(manifestPath.toString())
                : spark.createDataFrame(List.of(), MANIFEST_SCHEMA);
        return new Result(jobs.items().size(), skipped, made, failed, manifest);
    }

    /** JSON Lines from any Hadoop file system, or a Parquet table whose columns are the request fields. */
    static JobFile readJobs(SparkSession spark, String input) throws IOException {
        Path path = new Path(input);
        FileSystem fs = path.getFileSystem(spark.sparkContext().hadoopConfiguration());
        if (!fs.exists(path)) {
            throw new java.io.FileNotFoundException(input + ": no such job file");
        }
        HadoopImages images = new HadoopImages(spark.sparkContext().hadoopConfiguration());
        if (input.endsWith(".parquet") || fs.getFileStatus(path).isDirectory()) {
            Dataset<Row> table = spark.read().parquet(input);
            List<Map<String, Object>> rows = new ArrayList<>();
            String[] names = table.schema().fieldNames();
            for (Row r : table.collectAsList()) {
                Map<String, Object> m = new LinkedHashMap<>();
                for (int i = 0; i < names.length; i++) {
                    Object v = r.get(i);
                    if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
                        v = ((Number) v).longValue();
                    } else if (v instanceof Float f) {
                        v = f.doubleValue();
                    }
                    if (v != null) {
                        m.put(names[i], v);
                    }
                }
                rows.add(m);
            }
            return JobFile.of(input, rows, p -> HadoopImages.resolve(path, p), images);
        }
        try (BufferedReader r = new BufferedReader(new InputStreamReader(fs.open(path), StandardCharsets.UTF_8))) {
            return JobFile.parse(input, r, p -> HadoopImages.resolve(path, p), images);
        }
    }

    static Row row(ManifestRecord r) {
        return RowFactory.create(r.id(), r.status(), r.seed(), r.file(), r.sha256(), r.bytes(), r.seconds(), r.backend(), r.error());
    }

    static ManifestRecord record(Row r) {
        return new ManifestRecord(r.getString(0), r.getString(1), r.isNullAt(2) ? null : r.getLong(2), r.getString(3),
                r.getString(4), r.isNullAt(5) ? null : r.getLong(5), r.isNullAt(6) ? 0 : r.getDouble(6), r.getString(7),
                r.getString(8));
    }
}
