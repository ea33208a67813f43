//! Hybrid Logical Clocks (spec/hlc.md): one total order of operations that
//! respects causality and stays close to real time, however far the peers'
//! clocks disagree.
//!
//! The engine reads no clock, so every function that needs the physical time
//! takes it as `now_ms`, milliseconds since the Unix epoch, from the driver.

use std::fmt;

use crate::time::format_iso8601;

/// A hybrid logical timestamp: wall time in milliseconds since the Unix epoch,
/// then a counter ordering events within one millisecond.
///
/// Comparison is by wall time, then counter, which is also the byte order of
/// [`Hlc::to_bytes`], so stores and peers that only compare bytes agree with
/// the engine. Canonical operation order breaks ties between equal HLCs with
/// the operation id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hlc {
    wall: u64,
    counter: u32,
}

impl Hlc {
    /// Below every other HLC; the natural start for "everything since".
    pub const ZERO: Hlc = Hlc { wall: 0, counter: 0 };

    pub const fn new(wall: u64, counter: u32) -> Hlc {
        Hlc { wall, counter }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn wall(self) -> u64 {
        self.wall
    }

    pub const fn counter(self) -> u32 {
        self.counter
    }

    /// The 12-byte wire and storage form: wall time then counter, both
    /// big-endian, so that comparing the bytes compares the HLCs.
    pub const fn to_bytes(self) -> [u8; 12] {
        let [w0, w1, w2, w3, w4, w5, w6, w7] = self.wall.to_be_bytes();
        let [c0, c1, c2, c3] = self.counter.to_be_bytes();
        [w0, w1, w2, w3, w4, w5, w6, w7, c0, c1, c2, c3]
    }

    /// Every 12 bytes are a valid HLC, so reading one cannot fail.
    pub const fn from_bytes(bytes: [u8; 12]) -> Hlc {
        let [w0, w1, w2, w3, w4, w5, w6, w7, c0, c1, c2, c3] = bytes;
        Hlc {
            wall: u64::from_be_bytes([w0, w1, w2, w3, w4, w5, w6, w7]),
            counter: u32::from_be_bytes([c0, c1, c2, c3]),
        }
    }

    /// The next HLC for a local event at physical time `now_ms`: physical
    /// time if it has moved past this HLC's wall time, otherwise the next
    /// counter value, so that the result is always greater.
    fn next_at(self, now_ms: u64) -> Hlc {
        if now_ms > self.wall { Hlc::new(now_ms, 0) } else { self.successor() }
    }

    /// The smallest HLC greater than this one.
    ///
    /// The spec deems counter overflow practically impossible, but a peer can
    /// send any counter, including `u32::MAX`. Moving on to the next
    /// millisecond with counter 0 keeps the order strict, where wrapping
    /// would fall back below earlier HLCs and panicking would let one bad
    /// message stop the engine. The one HLC with no successor is the very
    /// last; it is returned unchanged, which no real clock can reach.
    fn successor(self) -> Hlc {
        match self.counter.checked_add(1) {
            Some(counter) => Hlc { wall: self.wall, counter },
            None => match self.wall.checked_add(1) {
                Some(wall) => Hlc { wall, counter: 0 },
                None => self,
            },
        }
    }
}

impl fmt::Display for Hlc {
    /// `2024-01-15T10:30:00.123Z/42`. Wall times past `i64::MAX` (year
    /// 292,278,994) have no calendar text and show as plain milliseconds;
    /// only corrupt or hostile input carries them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match i64::try_from(self.wall) {
            Ok(millis) => write!(f, "{}/{}", format_iso8601(millis), self.counter),
            Err(_) => write!(f, "{}ms/{}", self.wall, self.counter),
        }
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({self})")
    }
}

/// Drift limits, configurable per workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClockConfig {
    /// How far a received HLC may be ahead of local physical time before it
    /// is refused, so a peer with a wrong clock cannot drag everyone's
    /// clocks into the future.
    pub max_future_drift_ms: u64,
    /// How far behind local physical time an operation may be before it is
    /// flagged as having arrived late. It is applied all the same.
    pub stale_threshold_ms: u64,
}

impl Default for ClockConfig {
    /// The spec's defaults: 5 minutes of future drift, 7 days until stale.
    fn default() -> ClockConfig {
        ClockConfig { max_future_drift_ms: 5 * 60 * 1_000, stale_threshold_ms: 7 * 24 * 60 * 60 * 1_000 }
    }
}

/// A received HLC too far ahead of local physical time. The operation
/// carrying it is refused and the sender told, so they can fix their clock;
/// the operation stays in their oplog for a later attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FutureHlc {
    /// How far the HLC's wall time is ahead of local physical time.
    pub ahead_by_ms: u64,
    /// The limit it broke.
    pub max_drift_ms: u64,
}

impl fmt::Display for FutureHlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HLC is {}ms ahead of local time (max: {}ms)", self.ahead_by_ms, self.max_drift_ms)
    }
}

impl std::error::Error for FutureHlc {}

/// One actor's clock: the latest HLC it has issued or taken into account.
///
/// Every [`HlcClock::tick`] returns an HLC greater than everything the clock
/// has returned or accepted before, whatever the physical time passed in
/// does, so an actor's own operations are ordered as they happened and after
/// everything it had seen when making them.
#[derive(Debug, Clone)]
pub struct HlcClock {
    state: Hlc,
    config: ClockConfig,
}

impl HlcClock {
    /// A clock with no history, starting at physical time.
    pub fn new(now_ms: u64, config: ClockConfig) -> HlcClock {
        HlcClock { state: Hlc::new(now_ms, 0), config }
    }

    /// A clock reopened from its persisted [`HlcClock::current`] value.
    ///
    /// It never goes below `last`, even if physical time is now earlier
    /// (the device's clock was wound back while the workspace was closed):
    /// new operations must still sort after the ones already made.
    pub fn restore(last: Hlc, now_ms: u64, config: ClockConfig) -> HlcClock {
        HlcClock { state: last.max(Hlc::new(now_ms, 0)), config }
    }

    pub fn config(&self) -> &ClockConfig {
        &self.config
    }

    /// Moves the clock past `seen` without any drift check: for operations
    /// this device already accepted once (reopening from its own storage),
    /// which a clock wound back since must not refuse.
    pub fn witness(&mut self, seen: Hlc) {
        self.state = self.state.max(seen);
    }

    /// The clock's state, to persist for [`HlcClock::restore`]; every later
    /// tick is greater.
    pub fn current(&self) -> Hlc {
        self.state
    }

    /// The HLC for a new local operation (the spec's local event).
    ///
    /// When physical time has not moved past the state, as after a backward
    /// jump, the counter counts on from the higher wall time until physical
    /// time catches up.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        self.state = self.state.next_at(now_ms);
        self.state
    }

    /// Takes an HLC received from a peer into account (the spec's receive
    /// event), so that later ticks are greater than it.
    ///
    /// An HLC more than `max_future_drift_ms` ahead of `now_ms` is refused and
    /// leaves the clock exactly as it was, so one peer's wrong clock cannot
    /// poison this one; its operation must not be applied.
    ///
    /// One deliberate difference from the spec's pseudocode: a remote wall
    /// time exactly equal to `now_ms` takes the spec's first branch (remote
    /// wall, remote counter + 1) rather than the second (now, counter 0).
    /// The second would set the state below the received HLC whenever its
    /// counter is above zero, and the next tick could then be smaller than an
    /// HLC already seen, breaking causality.
    ///
    /// The state can end up one millisecond past `now_ms + max_future_drift_ms`,
    /// but only when the accepted HLC's counter is `u32::MAX`: rather than
    /// overflow the counter, the clock moves on to the next millisecond.
    pub fn receive(&mut self, remote: Hlc, now_ms: u64) -> Result<(), FutureHlc> {
        let ahead_by_ms = remote.wall.saturating_sub(now_ms);
        if ahead_by_ms > self.config.max_future_drift_ms {
            return Err(FutureHlc { ahead_by_ms, max_drift_ms: self.config.max_future_drift_ms });
        }
        let local = self.state;
        self.state = if remote.wall > local.wall && remote.wall >= now_ms {
            // Remote is ahead of us and of physical time, but within the drift limit.
            remote.successor()
        } else if remote.wall > local.wall {
            // Remote is ahead of us, but physical time is further ahead still.
            Hlc::new(now_ms, 0)
        } else if remote.wall == local.wall {
            // Same wall time: the walls agree, so the larger HLC has the larger counter.
            local.max(remote).successor()
        } else {
            // Remote is behind us: it changes nothing, so this is like a local event.
            local.next_at(now_ms)
        };
        Ok(())
    }
}

/// How long ago an operation was made, if that is longer than the stale
/// threshold. A stale operation is still applied, as it is real work done
/// offline; the age only flags it so people notice old changes arriving.
/// An HLC ahead of `now_ms` has age 0.
pub fn staleness(hlc: Hlc, now_ms: u64, config: &ClockConfig) -> Option<u64> {
    let age_ms = now_ms.saturating_sub(hlc.wall);
    (age_ms > config.stale_threshold_ms).then_some(age_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_705_314_600_123;
    const MINUTE: u64 = 60 * 1_000;
    const DAY: u64 = 24 * 60 * MINUTE;

    fn config() -> ClockConfig {
        ClockConfig::default()
    }

    /// A clock whose state is exactly `state`.
    fn clock_at(state: Hlc) -> HlcClock {
        HlcClock::restore(state, 0, config())
    }

    /// A small deterministic generator, so randomized tests replay exactly.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }

        fn shuffle<T>(&mut self, items: &mut [T]) {
            for index in (1..items.len()).rev() {
                items.swap(index, self.below(index as u64 + 1) as usize);
            }
        }
    }

    // Format

    #[test]
    fn bytes_are_big_endian_wall_then_counter() {
        let hlc = Hlc::new(0x0102_0304_0506_0708, 0x090A_0B0C);
        assert_eq!(hlc.to_bytes(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(Hlc::from_bytes(hlc.to_bytes()), hlc);
        assert_eq!(Hlc::ZERO.to_bytes(), [0; 12]);
        assert_eq!(Hlc::from_bytes([0xFF; 12]), Hlc::new(u64::MAX, u32::MAX));
    }

    #[test]
    fn byte_order_equals_hlc_order() {
        let mut random = XorShift(0x5DEE_CE66_D1CE_4E5B);
        let wall_edges = [0, 1, 255, 256, u64::from(u32::MAX), u64::MAX - 1, u64::MAX];
        let counter_edges = [0, 1, 255, 256, u32::MAX - 1, u32::MAX];
        let mut hlcs: Vec<Hlc> = wall_edges
            .iter()
            .flat_map(|&wall| counter_edges.iter().map(move |&counter| Hlc::new(wall, counter)))
            .collect();
        hlcs.extend((0..2_000).map(|_| Hlc::new(random.below(1_000), random.below(3) as u32)));
        hlcs.extend((0..2_000).map(|_| Hlc::new(random.next(), random.next() as u32)));
        for a in &hlcs {
            for b in hlcs.iter().step_by(7) {
                assert_eq!(a.cmp(b), a.to_bytes().cmp(&b.to_bytes()), "{a:?} vs {b:?}");
                assert_eq!(Hlc::from_bytes(a.to_bytes()), *a);
            }
        }
    }

    #[test]
    fn order_is_wall_then_counter() {
        assert!(Hlc::new(1, 0) > Hlc::new(0, u32::MAX));
        assert!(Hlc::new(5, 2) > Hlc::new(5, 1));
        assert!(Hlc::ZERO < Hlc::new(0, 1));
        assert_eq!(Hlc::new(5, 2).wall(), 5);
        assert_eq!(Hlc::new(5, 2).counter(), 2);
    }

    #[test]
    fn displays_as_iso8601_with_counter_suffix() {
        let hlc = Hlc::new(NOW, 42);
        assert_eq!(hlc.to_string(), "2024-01-15T10:30:00.123Z/42");
        assert_eq!(format!("{hlc:?}"), "Hlc(2024-01-15T10:30:00.123Z/42)");
        assert_eq!(Hlc::ZERO.to_string(), "1970-01-01T00:00:00.000Z/0");
    }

    #[test]
    fn displays_walls_beyond_the_calendar_as_milliseconds() {
        assert_eq!(Hlc::new(i64::MAX as u64, 0).to_string(), "+292278994-08-17T07:12:55.807Z/0");
        assert_eq!(Hlc::new(u64::MAX, u32::MAX).to_string(), "18446744073709551615ms/4294967295");
    }

    #[test]
    fn default_config_is_five_minutes_drift_and_seven_days_stale() {
        assert_eq!(config().max_future_drift_ms, 300_000);
        assert_eq!(config().stale_threshold_ms, 604_800_000);
    }

    // Local events and monotonicity

    #[test]
    fn new_clock_starts_at_physical_time() {
        let clock = HlcClock::new(NOW, config());
        assert_eq!(clock.current(), Hlc::new(NOW, 0));
    }

    #[test]
    fn tick_takes_physical_time_when_it_has_moved_on() {
        let mut clock = HlcClock::new(NOW, config());
        assert_eq!(clock.tick(NOW + 5), Hlc::new(NOW + 5, 0));
        assert_eq!(clock.current(), Hlc::new(NOW + 5, 0));
    }

    #[test]
    fn tick_counts_within_one_millisecond() {
        let mut clock = HlcClock::new(NOW, config());
        assert_eq!(clock.tick(NOW), Hlc::new(NOW, 1));
        assert_eq!(clock.tick(NOW), Hlc::new(NOW, 2));
        assert_eq!(clock.tick(NOW + 1), Hlc::new(NOW + 1, 0));
    }

    #[test]
    fn tick_stays_monotonic_when_physical_time_jumps_backward() {
        let mut clock = HlcClock::new(NOW, config());
        let before_jump = clock.tick(NOW + 10);
        let after_jump = clock.tick(NOW - DAY);
        assert!(after_jump > before_jump);
        assert_eq!(after_jump, Hlc::new(NOW + 10, 1));
        assert_eq!(clock.tick(NOW + 3), Hlc::new(NOW + 10, 2));
        // Once physical time passes the old wall time, the clock follows it again.
        assert_eq!(clock.tick(NOW + 11), Hlc::new(NOW + 11, 0));
    }

    #[test]
    fn tick_is_monotonic_for_any_sequence_of_physical_times() {
        let mut random = XorShift(7);
        let mut clock = HlcClock::new(NOW, config());
        let mut previous = clock.current();
        let mut now = NOW;
        for _ in 0..10_000 {
            // Mostly small steps, sometimes large jumps either way.
            now = match random.below(10) {
                0 => now.saturating_sub(random.below(DAY)),
                1 => now + random.below(DAY),
                _ => now + random.below(3),
            };
            let hlc = clock.tick(now);
            assert!(hlc > previous, "{hlc:?} after {previous:?}");
            assert_eq!(clock.current(), hlc);
            previous = hlc;
        }
    }

    #[test]
    fn counter_overflow_moves_on_to_the_next_millisecond() {
        let mut clock = clock_at(Hlc::new(NOW, u32::MAX));
        assert_eq!(clock.tick(NOW), Hlc::new(NOW + 1, 0));
        assert_eq!(clock.tick(NOW), Hlc::new(NOW + 1, 1));
    }

    #[test]
    fn the_last_hlc_neither_panics_nor_wraps() {
        let last = Hlc::new(u64::MAX, u32::MAX);
        let mut clock = clock_at(last);
        assert_eq!(clock.tick(u64::MAX), last);
        assert_eq!(clock.receive(last, u64::MAX), Ok(()));
        assert_eq!(clock.current(), last);
    }

    // Restoring a persisted clock

    #[test]
    fn restore_never_goes_below_the_persisted_hlc() {
        let last = Hlc::new(NOW, 7);
        let mut clock = HlcClock::restore(last, NOW - DAY, config());
        assert_eq!(clock.current(), last);
        assert_eq!(clock.tick(NOW - DAY), Hlc::new(NOW, 8));
    }

    #[test]
    fn restore_follows_physical_time_when_it_is_ahead() {
        let mut clock = HlcClock::restore(Hlc::new(NOW, 7), NOW + 1, config());
        assert_eq!(clock.current(), Hlc::new(NOW + 1, 0));
        assert!(clock.tick(NOW + 1) > Hlc::new(NOW, 7));
    }

    // Each branch of the receive algorithm

    #[test]
    fn receive_adopts_a_remote_ahead_of_local_and_physical_time() {
        let mut clock = clock_at(Hlc::new(NOW, 3));
        assert_eq!(clock.receive(Hlc::new(NOW + MINUTE, 9), NOW + 10), Ok(()));
        assert_eq!(clock.current(), Hlc::new(NOW + MINUTE, 10));
    }

    #[test]
    fn receive_at_exactly_physical_time_stays_above_the_remote() {
        let mut clock = clock_at(Hlc::new(NOW, 3));
        assert_eq!(clock.receive(Hlc::new(NOW + 10, 9), NOW + 10), Ok(()));
        assert_eq!(clock.current(), Hlc::new(NOW + 10, 10));
        assert!(clock.tick(NOW + 10) > Hlc::new(NOW + 10, 9));
    }

    #[test]
    fn receive_takes_physical_time_when_it_is_ahead_of_the_remote() {
        let mut clock = clock_at(Hlc::new(NOW, 3));
        assert_eq!(clock.receive(Hlc::new(NOW + 5, 9), NOW + 10), Ok(()));
        assert_eq!(clock.current(), Hlc::new(NOW + 10, 0));
    }

    #[test]
    fn receive_with_the_same_wall_takes_the_larger_counter_plus_one() {
        let mut clock = clock_at(Hlc::new(NOW, 3));
        assert_eq!(clock.receive(Hlc::new(NOW, 9), NOW - 10), Ok(()));
        assert_eq!(clock.current(), Hlc::new(NOW, 10));
        assert_eq!(clock.receive(Hlc::new(NOW, 2), NOW + 10), Ok(()));
        assert_eq!(clock.current(), Hlc::new(NOW, 11));
    }

    #[test]
    fn receive_behind_local_takes_physical_time_when_it_has_moved_on() {
        let mut clock = clock_at(Hlc::new(NOW, 3));
        assert_eq!(clock.receive(Hlc::new(NOW - 5, 9), NOW + 10), Ok(()));
        assert_eq!(clock.current(), Hlc::new(NOW + 10, 0));
    }

    #[test]
    fn receive_behind_local_counts_on_when_physical_time_has_not_moved_on() {
        let mut clock = clock_at(Hlc::new(NOW, 3));
        assert_eq!(clock.receive(Hlc::new(NOW - 5, 9), NOW), Ok(()));
        assert_eq!(clock.current(), Hlc::new(NOW, 4));
        // Physical time behind both, as after a backward jump.
        assert_eq!(clock.receive(Hlc::new(NOW - 5, 9), NOW - MINUTE), Ok(()));
        assert_eq!(clock.current(), Hlc::new(NOW, 5));
    }

    #[test]
    fn receive_with_a_spent_counter_moves_on_to_the_next_millisecond() {
        let mut ahead = clock_at(Hlc::new(NOW, 3));
        assert_eq!(ahead.receive(Hlc::new(NOW + 10, u32::MAX), NOW), Ok(()));
        assert_eq!(ahead.current(), Hlc::new(NOW + 11, 0));

        let mut same_wall = clock_at(Hlc::new(NOW, 3));
        assert_eq!(same_wall.receive(Hlc::new(NOW, u32::MAX), NOW), Ok(()));
        assert_eq!(same_wall.current(), Hlc::new(NOW + 1, 0));
    }

    // Causality

    #[test]
    fn tick_after_receive_is_greater_than_the_received_hlc() {
        let state = Hlc::new(NOW, 3);
        let remotes = [
            Hlc::new(NOW + MINUTE, 9),
            Hlc::new(NOW + 10, 9),
            Hlc::new(NOW + 5, 9),
            Hlc::new(NOW, 9),
            Hlc::new(NOW, 0),
            Hlc::new(NOW - 5, 9),
            Hlc::new(NOW + 10, u32::MAX),
            Hlc::ZERO,
        ];
        for remote in remotes {
            for now in [NOW - DAY, NOW - 1, NOW, NOW + 5, NOW + 10, NOW + 11] {
                let mut clock = clock_at(state);
                if clock.receive(remote, now).is_err() {
                    assert!(remote.wall() > now + 5 * MINUTE);
                    continue;
                }
                let next = clock.tick(now);
                assert!(next > remote, "{next:?} after receiving {remote:?} at {now}");
                assert!(next > state, "{next:?} after {state:?}");
            }
        }
    }

    // Drift rejection and poison prevention

    #[test]
    fn receive_accepts_a_remote_exactly_at_the_drift_limit() {
        let mut clock = HlcClock::new(NOW, config());
        let remote = Hlc::new(NOW + 5 * MINUTE, 0);
        assert_eq!(clock.receive(remote, NOW), Ok(()));
        assert!(clock.tick(NOW) > remote);
    }

    #[test]
    fn receive_refuses_a_remote_one_millisecond_past_the_drift_limit() {
        let mut clock = HlcClock::new(NOW, config());
        let refused = clock.receive(Hlc::new(NOW + 5 * MINUTE + 1, 0), NOW);
        assert_eq!(refused, Err(FutureHlc { ahead_by_ms: 300_001, max_drift_ms: 300_000 }));
    }

    #[test]
    fn future_hlc_message_uses_the_spec_wording() {
        let error = FutureHlc { ahead_by_ms: 847_000, max_drift_ms: 300_000 };
        assert_eq!(error.to_string(), "HLC is 847000ms ahead of local time (max: 300000ms)");
    }

    #[test]
    fn refused_receive_leaves_the_clock_unchanged() {
        let mut clock = HlcClock::new(NOW, config());
        clock.tick(NOW + 1);
        let before = clock.current();
        for remote in [Hlc::new(NOW + DAY, 0), Hlc::new(NOW + 5 * MINUTE + 2, u32::MAX), Hlc::new(u64::MAX, u32::MAX)] {
            assert!(clock.receive(remote, NOW + 1).is_err());
            assert_eq!(clock.current(), before);
        }
        assert_eq!(clock.tick(NOW + 1), Hlc::new(NOW + 1, 1));
    }

    #[test]
    fn drift_check_does_not_overflow_near_the_end_of_time() {
        let generous = ClockConfig { max_future_drift_ms: u64::MAX, ..config() };
        let mut clock = HlcClock::new(u64::MAX - 1, generous);
        assert_eq!(clock.receive(Hlc::new(u64::MAX, 5), u64::MAX - 1), Ok(()));
        assert_eq!(clock.current(), Hlc::new(u64::MAX, 6));

        let mut clock = HlcClock::new(0, config());
        let refused = clock.receive(Hlc::new(u64::MAX, 0), 0);
        assert_eq!(refused, Err(FutureHlc { ahead_by_ms: u64::MAX, max_drift_ms: 300_000 }));
    }

    // Stale flagging

    #[test]
    fn an_operation_exactly_at_the_stale_threshold_is_not_flagged() {
        assert_eq!(staleness(Hlc::new(NOW - 7 * DAY, 0), NOW, &config()), None);
        assert_eq!(staleness(Hlc::new(NOW - 7 * DAY, u32::MAX), NOW, &config()), None);
    }

    #[test]
    fn an_operation_past_the_stale_threshold_is_accepted_and_flagged_with_its_age() {
        let stale = Hlc::new(NOW - 7 * DAY - 1, 4);
        let mut clock = HlcClock::new(NOW, config());
        assert_eq!(clock.receive(stale, NOW), Ok(()));
        assert_eq!(staleness(stale, NOW, &config()), Some(7 * DAY + 1));
        assert_eq!(staleness(Hlc::new(NOW - 10 * DAY, 0), NOW, &config()), Some(864_000_000));
    }

    #[test]
    fn recent_and_future_operations_are_not_stale() {
        assert_eq!(staleness(Hlc::new(NOW, 0), NOW, &config()), None);
        assert_eq!(staleness(Hlc::new(NOW - DAY, 0), NOW, &config()), None);
        assert_eq!(staleness(Hlc::new(NOW + MINUTE, 0), NOW, &config()), None);
        assert_eq!(staleness(Hlc::new(u64::MAX, 0), 0, &config()), None);
        assert_eq!(staleness(Hlc::ZERO, u64::MAX, &config()), Some(u64::MAX));
    }

    // Convergence

    #[test]
    fn peers_sorting_the_same_operations_derive_one_order() {
        let mut random = XorShift(0xC0FF_EE00_1234_5678);
        // Few distinct HLCs, so many operations share one and the op id decides.
        let operations: Vec<(Hlc, [u8; 16])> = (0..500)
            .map(|_| {
                let hlc = Hlc::new(NOW + random.below(5), random.below(3) as u32);
                let op_id = ((u128::from(random.next()) << 64) | u128::from(random.next())).to_be_bytes();
                (hlc, op_id)
            })
            .collect();
        let mut reference = operations.clone();
        reference.sort();
        for _ in 0..20 {
            let mut peer_copy = operations.clone();
            random.shuffle(&mut peer_copy);
            peer_copy.sort();
            assert_eq!(peer_copy, reference);
        }
        assert!(reference.windows(2).all(|pair| pair[0] < pair[1]), "operations are distinct, so the order is total");
        assert!(reference.windows(2).any(|pair| pair[0].0 == pair[1].0), "some HLCs are shared");
    }

    /// Peers with skewed clocks that jump backward make operations and
    /// receive each other's in a random order. Checks, at every step: ticks
    /// are strictly increasing per peer; every tick is greater than all HLCs
    /// the peer accepted before; a refusal happens exactly beyond the drift
    /// limit and changes nothing; an accepted HLC never pulls the clock past
    /// `now + max drift`. Then every peer receives everything, each in its own
    /// order, and all derive the same canonical order.
    #[test]
    fn randomized_peers_keep_monotonicity_causality_and_convergence() {
        const PEERS: usize = 4;
        let mut random = XorShift(0x2545_F491_4F6C_DD1D);
        let max_drift = config().max_future_drift_ms;
        let mut physical = [NOW; PEERS];
        let mut clocks: Vec<HlcClock> = physical.iter().map(|&now| HlcClock::new(now, config())).collect();
        let mut last_tick: [Option<Hlc>; PEERS] = [None; PEERS];
        let mut greatest_accepted = [Hlc::ZERO; PEERS];
        // Operations as (HLC, op id), in the order each peer came to hold them.
        let mut held: Vec<Vec<(Hlc, u64)>> = vec![Vec::new(); PEERS];
        let mut made: Vec<(Hlc, u64)> = Vec::new();

        for _ in 0..20_000 {
            let peer = random.below(PEERS as u64) as usize;
            // Each physical clock wanders on its own: mostly forward, sometimes
            // backward, with the peers several minutes apart at times.
            physical[peer] = match random.below(20) {
                0 => physical[peer].saturating_sub(random.below(10 * MINUTE)),
                1 => physical[peer] + random.below(10 * MINUTE),
                _ => physical[peer] + random.below(5),
            };
            let now = physical[peer];

            if made.is_empty() || random.below(2) == 0 {
                let hlc = clocks[peer].tick(now);
                assert!(last_tick[peer].is_none_or(|last| hlc > last), "peer {peer} went back to {hlc:?}");
                assert!(hlc > greatest_accepted[peer], "peer {peer} ticked {hlc:?} after accepting a later HLC");
                last_tick[peer] = Some(hlc);
                let operation = (hlc, made.len() as u64);
                made.push(operation);
                held[peer].push(operation);
                continue;
            }

            let operation = made[random.below(made.len() as u64) as usize];
            let before = clocks[peer].current();
            match clocks[peer].receive(operation.0, now) {
                Ok(()) => {
                    assert!(operation.0.wall() <= now + max_drift);
                    assert!(clocks[peer].current() > operation.0);
                    assert!(clocks[peer].current() > before);
                    assert!(clocks[peer].current().wall() <= before.wall().max(now + max_drift));
                    greatest_accepted[peer] = greatest_accepted[peer].max(operation.0);
                    if !held[peer].contains(&operation) {
                        held[peer].push(operation);
                    }
                }
                Err(refusal) => {
                    assert_eq!(refusal.ahead_by_ms, operation.0.wall() - now);
                    assert!(refusal.ahead_by_ms > max_drift);
                    assert_eq!(clocks[peer].current(), before);
                }
            }
        }

        let end_of_run = made.iter().map(|operation| operation.0.wall()).max().unwrap_or(NOW);
        for peer in 0..PEERS {
            let mut arriving = made.clone();
            random.shuffle(&mut arriving);
            for operation in arriving {
                assert_eq!(clocks[peer].receive(operation.0, end_of_run), Ok(()));
                if !held[peer].contains(&operation) {
                    held[peer].push(operation);
                }
            }
        }
        assert!(held.windows(2).any(|pair| pair[0] != pair[1]), "peers hold the operations in different orders");
        for operations in &mut held {
            operations.sort();
        }
        assert!(held.iter().all(|operations| *operations == held[0]));
        assert_eq!(held[0].len(), made.len());
    }
}
