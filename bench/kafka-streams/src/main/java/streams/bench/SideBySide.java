package streams.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * WORKLOADS.md's W1-W5 as a Kafka Streams application, reading an input topic that the Rust
 * bench preloaded (so both read the same bytes), with RocksDB state, at-least-once, one stream
 * thread and the record cache off (WORKLOADS.md's "updates": one result per record and
 * window). A reader in the same JVM consumes the output topic and checks it against
 * WORKLOADS.md's closed forms; throughput is timed from RUNNING until the reader has every
 * expected row, as our {@code apache_kafka} bench does. Prints one {@code RESULT {json}} line.
 *
 * <p>Usage: {@code SideBySide BOOTSTRAP INPUT_TOPIC W1|W2|W3|W4|W5 N}
 */
public final class SideBySide {
    private SideBySide() {}

    /** A record of WORKLOADS.md's input: the value and its event time (value bytes 0..8, 8..16). */
    record Event(long value, long time) {}

    /** Decodes WORKLOADS.md's 16-byte values; the event time must be decoded before the
     *  timestamp extractor runs, which sees deserialized values. */
    static final class EventSerde implements Serde<Event>, Deserializer<Event>, Serializer<Event> {
        @Override
        public Event deserialize(String topic, byte[] data) {
            ByteBuffer b = ByteBuffer.wrap(data);
            return new Event(b.getLong(0), b.getLong(8));
        }

        @Override
        public byte[] serialize(String topic, Event e) {
            return ByteBuffer.allocate(16).putLong(e.value()).putLong(e.time()).array();
        }

        @Override
        public void configure(Map<String, ?> configs, boolean isKey) {}

        @Override
        public void close() {}

        @Override
        public Serializer<Event> serializer() {
            return this;
        }

        @Override
        public Deserializer<Event> deserializer() {
            return this;
        }
    }

    /** Event time from the value (the Kafka record timestamp is not used, as WORKLOADS.md says). */
    public static final class EventTime implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            return record.value() instanceof Event e ? e.time() : -1;
        }
    }

    static Topology topology(String workload, String input, String output) {
        StreamsBuilder builder = new StreamsBuilder();
        KStream<String, Event> stream =
                builder.stream(input, Consumed.with(Serdes.String(), new EventSerde()));
        if (workload.equals("W1")) {
            stream.filter((k, e) -> e.value() % 3 != 0)
                    .mapValues(e -> e.value() * 2)
                    .to(output, Produced.with(Serdes.String(), Serdes.Long()));
            return builder.build();
        }
        KGroupedStream<String, Event> grouped = stream.groupByKey();
        switch (workload) {
            case "W2" -> grouped.count(Materialized.as("counts"))
                    .toStream()
                    .to(output, Produced.with(Serdes.String(), Serdes.Long()));
            case "W3" -> grouped.windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofSeconds(1)))
                    .count(Materialized.as("counts"))
                    .toStream()
                    .to(output, Produced.with(
                            WindowedSerdes.timeWindowedSerdeFrom(String.class, 1000), Serdes.Long()));
            case "W4" -> grouped.windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofSeconds(10))
                            .advanceBy(Duration.ofSeconds(1)))
                    .count(Materialized.as("counts"))
                    .toStream()
                    .to(output, Produced.with(
                            WindowedSerdes.timeWindowedSerdeFrom(String.class, 10_000), Serdes.Long()));
            case "W5" -> grouped.windowedBy(SessionWindows.ofInactivityGapWithNoGrace(Duration.ofSeconds(30)))
                    .count(Materialized.as("counts"))
                    .toStream()
                    .to(output, Produced.with(
                            WindowedSerdes.sessionWindowedSerdeFrom(String.class), Serdes.Long()));
            default -> throw new IllegalArgumentException("unknown workload " + workload);
        }
        return builder.build();
    }

    /** What the reader has seen of the output topic. */
    static final class Tally {
        long rows;
        long tombstones;
        long sum;
        long max;
        /** The last value per output key (a window's or session's key includes its times);
         *  a tombstone removes the session it retracts. */
        final Map<Bytes, Long> table = new HashMap<>();
        final Set<Long> windows = new HashSet<>();
    }

    /** Reads the output topic from the beginning into {@code tally} until {@code reading} is false. */
    static void read(String bootstrap, String output, String workload, Tally tally, AtomicBoolean reading) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            TopicPartition tp = new TopicPartition(output, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            while (reading.get()) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(50))) {
                    byte[] key = r.key();
                    synchronized (tally) {
                        if (r.value() == null) {
                            tally.tombstones++;
                            tally.table.remove(Bytes.wrap(key));
                            continue;
                        }
                        long value = ByteBuffer.wrap(r.value()).getLong(0);
                        tally.rows++;
                        tally.sum += value;
                        tally.max = Math.max(tally.max, value);
                        // Only W2 and W5 need the final table; for W3 and W4 it would hold
                        // every window (2M entries at N = 200K) and weigh on peak RSS.
                        if (workload.equals("W2") || workload.equals("W5")) {
                            tally.table.put(Bytes.wrap(key), value);
                        }
                        // Windowed keys end with the window start (time windows: key, start;
                        // session windows: key, end, start).
                        if (workload.equals("W3") || workload.equals("W4") || workload.equals("W5")) {
                            tally.windows.add(ByteBuffer.wrap(key).getLong(key.length - 8));
                        }
                    }
                }
            }
        }
    }

    /** WORKLOADS.md's expected rows (non-null outputs) and tombstones for N records. */
    static long[] expectedRows(String workload, long n) {
        return switch (workload) {
            case "W1" -> new long[] {n - (n + 2) / 3, 0};
            case "W2", "W3" -> new long[] {n, 0};
            case "W4" -> new long[] {10 * n - 45_000, 0};
            // Each record extends its key's session: one retraction of the old session, then
            // the new one, except for each key's first record.
            case "W5" -> new long[] {n, n - Math.min(n, 10_000)};
            default -> throw new IllegalArgumentException(workload);
        };
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException("check failed: " + what);
        }
    }

    /** Checks the output against WORKLOADS.md and returns the RESULT fields it proves. */
    static String checkOutput(String workload, long n, Tally t) {
        long keys = Math.min(n, 10_000);
        switch (workload) {
            case "W1" -> {
                long m = (n + 2) / 3;
                long sum = 2 * (n * (n - 1) / 2 - 3 * (m * (m - 1) / 2));
                check(t.sum == sum, "W1 sum " + t.sum + " != " + sum);
                return String.format("\"rows\":%d,\"sum\":%d", t.rows, t.sum);
            }
            case "W2", "W5" -> {
                long total = t.table.values().stream().mapToLong(Long::longValue).sum();
                long max = t.table.values().stream().mapToLong(Long::longValue).max().orElse(0);
                check(t.table.size() == keys, workload + " keys " + t.table.size());
                check(total == n, workload + " final table sum " + total);
                check(max == (n + 9_999) / 10_000, workload + " max " + max);
                return String.format("\"rows\":%d,\"sum\":%d,\"max\":%d,\"keys\":%d,\"retractions\":%d",
                        t.rows, total, max, t.table.size(), t.tombstones);
            }
            default -> {
                long windows = workload.equals("W3") ? (n + 999) / 1000 : (n - 1) / 1000 + 1;
                check(t.windows.size() == windows, workload + " windows " + t.windows.size());
                check(t.sum == t.rows && t.max == 1, workload + " every count is 1");
                return String.format("\"rows\":%d,\"sum\":%d,\"max\":%d,\"windows\":%d",
                        t.rows, t.sum, t.max, t.windows.size());
            }
        }
    }

    /** This process's peak resident set size in MB (VmHWM), as the Rust benches read it. */
    static double peakRssMb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.split("\\s+")[1]) / 1024.0;
            }
        }
        return 0;
    }

    /** CPU time this JVM has used so far, all threads (as {@code cpu_s} of the Rust side). */
    static Duration cpuTime() {
        return ProcessHandle.current().info().totalCpuDuration().orElse(Duration.ZERO);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: SideBySide BOOTSTRAP INPUT_TOPIC W1|W2|W3|W4|W5 N");
            System.exit(2);
        }
        String bootstrap = args[0], input = args[1], workload = args[2];
        long n = Long.parseLong(args[3]);
        String app = "ks-" + workload + "-" + ProcessHandle.current().pid();
        String output = app + "-out";
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            admin.createTopics(List.of(new NewTopic(output, 1, (short) 1))).all().get();
        }
        Path stateDir = Files.createTempDirectory("ks-state");

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        // WORKLOADS.md's "updates": every update goes downstream (Kafka Streams' cache would
        // collapse them per commit, by a number of rows that depends on timing).
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG, EventTime.class);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, EventSerde.class);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        Tally tally = new Tally();
        AtomicBoolean reading = new AtomicBoolean(true);
        Thread reader = new Thread(() -> read(bootstrap, output, workload, tally, reading));
        reader.start();

        KafkaStreams streams = new KafkaStreams(topology(workload, input, output), props);
        CountDownLatch running = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) {
                running.countDown();
            }
        });
        streams.start();
        check(running.await(120, TimeUnit.SECONDS), "never RUNNING");
        long started = System.nanoTime();
        Duration cpuStarted = cpuTime();
        long[] expected = expectedRows(workload, n);
        long deadline = started + TimeUnit.SECONDS.toNanos(1800);
        while (true) {
            synchronized (tally) {
                if (tally.rows >= expected[0] && tally.tombstones >= expected[1]) {
                    break;
                }
                check(System.nanoTime() < deadline, "only " + tally.rows + " of " + expected[0] + " rows");
            }
            Thread.sleep(5);
        }
        double runS = (System.nanoTime() - started) / 1e9;
        double cpuS = cpuTime().minus(cpuStarted).toMillis() / 1e3;
        reading.set(false);
        reader.join();
        streams.close(Duration.ofSeconds(60));
        streams.cleanUp();

        String checks;
        synchronized (tally) {
            check(tally.rows == expected[0] && tally.tombstones == expected[1],
                    "rows " + tally.rows + "/" + tally.tombstones);
            checks = checkOutput(workload, n, tally);
        }
        System.out.printf("RESULT {\"workload\":\"%s\",\"system\":\"kafka-streams\",\"broker\":\"apache-kafka\","
                        + "\"variant\":\"updates/rocksdb\",\"guarantee\":\"alos\",\"n\":%d,\"run_s\":%.3f,"
                        + "\"rec_per_s\":%.0f,%s,\"cpu_s\":%.2f,\"peak_rss_mb\":%.1f}%n",
                workload, n, runS, n / runS, checks, cpuS, peakRssMb());
    }
}
