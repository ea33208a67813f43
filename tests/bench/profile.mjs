// What the main thread's long tasks are made of, from a CPU profile taken
// through the DevTools protocol: set OPENPROD_PROFILE=1 when running
// scripts/bench-browser.sh. The page's own long-task entries (over 50 ms)
// say when each long task ran; for the longest ones it prints the functions
// their samples spent time in (inclusive, and where the time was their own).

export const profiling = process.env.OPENPROD_PROFILE === "1";

/**
 * Starts sampling `page`'s main thread; `stop()` resolves to the summary.
 * `measure`: also break down the three longest User Timing measures of that
 * name (such as "openprod sync frame"), long tasks or not.
 */
export async function startProfile(page, label, measure) {
  if (!profiling) return { stop: async () => null };
  const session = await page.context().newCDPSession(page);
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: 250 });
  await session.send("Profiler.start");
  // The wall-clock time at the profile's start, to place the page's long
  // tasks in it even after the page navigated (a new document's clock
  // starts again from zero).
  const startedAt = await page.evaluate(() => performance.timeOrigin + performance.now());
  return {
    async stop() {
      const { profile } = await session.send("Profiler.stop");
      await session.detach();
      const { origin, longTasks, measures } = await page.evaluate(
        (name) =>
          new Promise((done) => {
            const spans = (entries) => entries.map((entry) => ({ start: entry.startTime, ms: entry.duration }));
            const finish = (longTasks) =>
              done({
                origin: performance.timeOrigin,
                longTasks: spans(longTasks),
                measures: name ? spans(performance.getEntriesByName(name)) : [],
              });
            const observer = new PerformanceObserver((list) => {
              observer.disconnect();
              finish(list.getEntries());
            });
            observer.observe({ type: "longtask", buffered: true });
            // The observer says nothing when the page had no long task.
            setTimeout(() => {
              observer.disconnect();
              finish([]);
            }, 1000);
          }),
        measure,
      );
      const onWallClock = (spans) =>
        spans.map((span) => ({ ...span, start: origin + span.start })).filter((span) => span.start >= startedAt - 5);
      const summary = summarize(profile, onWallClock(longTasks), startedAt);
      print(label, summary);
      if (measure) print(`${label}, longest "${measure}"`, summarize(profile, onWallClock(measures), startedAt).slice(0, 3));
      return summary;
    },
  };
}

// Samples that are not in any function: left out of the inclusive lists.
const notFunctions = new Set(["(idle)", "(program)", "(garbage collector)"]);

function summarize(profile, longTasks, startedAt) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const nameOf = (node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url ? url.split("/").pop() : "";
    return `${functionName || "(anonymous)"}${file ? ` ${file}:${lineNumber + 1}` : ""}`;
  };
  const stackOf = (id) => {
    const names = [];
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node.callFrame.functionName !== "(root)") names.push(nameOf(node));
    }
    return names;
  };

  // Each sample's time on the page's clock: the profile's own clock starts
  // at its first sample, taken when the page's clock read `startedAt`.
  const samples = [];
  let at = startedAt;
  for (let index = 0; index < profile.samples.length; index++) {
    at += profile.timeDeltas[index] / 1000;
    samples.push({ id: profile.samples[index], at, ms: (profile.timeDeltas[index + 1] ?? 0) / 1000 });
  }
  const tasks = longTasks.map((task) => ({
    ms: task.ms,
    at: Math.round(task.start - startedAt),
    samples: samples.filter((sample) => sample.at >= task.start && sample.at <= task.start + task.ms),
  }));
  const long = tasks.sort((a, b) => b.ms - a.ms);
  return long.slice(0, 6).map((task) => {
    const inclusive = new Map();
    const own = new Map();
    for (const sample of task.samples) {
      const stack = stackOf(sample.id);
      const top = stack[0] ?? nameOf(byId.get(sample.id));
      own.set(top, (own.get(top) ?? 0) + sample.ms);
      for (const name of new Set(stack)) {
        if (!notFunctions.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + sample.ms);
      }
    }
    const top = (map, count) =>
      [...map].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, ms]) => ({ name, ms: Math.round(ms * 10) / 10 }));
    return { ms: Math.round(task.ms * 10) / 10, at: task.at, inclusive: top(inclusive, 25), own: top(own, 12) };
  });
}

function print(label, tasks) {
  console.log(`\nprofile: ${label}: ${tasks.length ? "longest" : "none over 50 ms"}`);
  for (const task of tasks) {
    console.log(`  ${task.ms} ms, ${task.at} ms after the profile started; inclusive:`);
    for (const { name, ms } of task.inclusive) console.log(`    ${String(ms).padStart(7)} ms  ${name.slice(0, 140)}`);
    console.log("  own time:");
    for (const { name, ms } of task.own) console.log(`    ${String(ms).padStart(7)} ms  ${name.slice(0, 140)}`);
  }
}
