//! A map kept as a vector sorted by key, for the few entries one record
//! holds of a kind (its tables, its fields, a relationship's properties):
//! a B-tree map allocates a node of eleven slots for its first entry, which
//! for a 10,000-record workspace came to 11 MB of empty slots. Lookups are
//! binary searches; the vector grows one entry at a time.

use std::borrow::Borrow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(held, _)| held.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|at| &self.0[at].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|at| &mut self.0[at].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// The value under `key`, inserted as the default first if absent.
    pub fn get_or_insert_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let at = match self.find(&key) {
            Ok(at) => at,
            Err(at) => {
                self.0.reserve_exact(1);
                self.0.insert(at, (key, V::default()));
                at
            }
        };
        &mut self.0[at].1
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.0.iter().map(|(key, value)| (key, value))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.0.iter().map(|(key, _)| key)
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(key, value)| (key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_sorted_by_key_and_take_exactly_their_room() {
        let mut map: VecMap<String, u32> = VecMap::default();
        for (key, value) in [("role", 2), ("email", 1), ("phone", 3)] {
            *map.get_or_insert_default(key.to_owned()) = value;
        }
        *map.get_or_insert_default("email".to_owned()) += 10;
        *map.get_or_insert_default("department".to_owned()) += 4;
        *map.get_or_insert_default("role".to_owned()) = 20;
        let entries: Vec<(&str, u32)> = map.iter().map(|(key, value)| (key.as_str(), *value)).collect();
        assert_eq!(entries, [("department", 4), ("email", 11), ("phone", 3), ("role", 20)]);
        assert_eq!((map.get("phone"), map.get("name")), (Some(&3), None));
        assert!(map.contains_key("role") && !map.contains_key("name"));
        assert_eq!(map.0.capacity(), 4, "no room beyond the entries");
    }
}
