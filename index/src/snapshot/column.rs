//! `Column<T>`: one flat column of a snapshot, either owned (built in memory) or a typed view
//! into a memory-mapped snapshot file. Both read as `&[T]`.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use memmap2::Mmap;

// A mapped column is the file's bytes read as `[T]` in place: only a little-endian host reads
// the file's little-endian scalars as they are.
#[cfg(target_endian = "big")]
compile_error!(
    "snapshot columns are little-endian in memory and on disk; big-endian hosts are not supported"
);

mod sealed {
    pub trait Sealed {}
}

/// A plain little-endian scalar a column may hold: no padding, no invalid bit patterns (every
/// byte string of the right size is some value), so file bytes can be read as `T` in place.
/// Sealed: only the types below.
pub trait Scalar: sealed::Sealed + Copy + PartialEq + fmt::Debug + Send + Sync + 'static {
    /// The element type's code in a snapshot file's column table.
    const CODE: u8;
    /// Its name in error messages.
    const NAME: &'static str;
    /// Append the value's little-endian bytes (`size_of::<Self>()` of them).
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! scalar {
    ($($t:ty => $code:literal),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Scalar for $t {
            const CODE: u8 = $code;
            const NAME: &'static str = stringify!($t);
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}

scalar!(u8 => 1, u16 => 2, u32 => 3, u64 => 4, i32 => 5, i64 => 6, f64 => 7);

impl sealed::Sealed for [f64; 2] {}
impl Scalar for [f64; 2] {
    const CODE: u8 = 8;
    const NAME: &'static str = "[f64; 2]";
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self[0].to_le_bytes());
        out.extend_from_slice(&self[1].to_le_bytes());
    }
}

#[derive(Clone)]
enum Store<T: Scalar> {
    Owned(Vec<T>),
    /// `len` elements at byte `offset` of the map; bounds and alignment are checked by
    /// `Column::mapped`, the only constructor.
    Mapped {
        map: Arc<Mmap>,
        offset: usize,
        len: usize,
    },
}

/// A column of `T`: owned, or a view into a shared read-only file mapping.
#[derive(Clone)]
pub struct Column<T: Scalar> {
    store: Store<T>,
}

impl<T: Scalar> Column<T> {
    /// `len` values of `T` at byte `offset` of `map`, or why they cannot be read there (out of
    /// the map's bounds, or misaligned for `T`).
    pub fn mapped(map: Arc<Mmap>, offset: usize, len: usize) -> Result<Self, String> {
        let size = std::mem::size_of::<T>();
        let end = len
            .checked_mul(size)
            .and_then(|bytes| bytes.checked_add(offset));
        match end {
            Some(end) if end <= map.len() => {}
            _ => {
                return Err(format!(
                    "{len} values of {} at byte {offset} run past the end of the file ({} bytes)",
                    T::NAME,
                    map.len()
                ))
            }
        }
        // `offset <= map.len()` was just checked, so this pointer stays inside the mapping.
        let address = map.as_ptr() as usize + offset;
        if address % std::mem::align_of::<T>() != 0 {
            return Err(format!(
                "{} values at byte {offset} are misaligned",
                T::NAME
            ));
        }
        Ok(Column {
            store: Store::Mapped { map, offset, len },
        })
    }

    /// Whether the values are read from a file mapping (false: owned).
    pub fn is_mapped(&self) -> bool {
        matches!(self.store, Store::Mapped { .. })
    }

    /// The values as a Vec to change, copied out of the mapping first when mapped.
    /// Give back an owned column's spare capacity.
    pub fn shrink_to_fit(&mut self) {
        if let Store::Owned(values) = &mut self.store {
            values.shrink_to_fit();
        }
    }

    pub fn make_mut(&mut self) -> &mut Vec<T> {
        if let Store::Mapped { .. } = self.store {
            self.store = Store::Owned(self.to_vec());
        }
        match &mut self.store {
            Store::Owned(values) => values,
            Store::Mapped { .. } => unreachable!("a mapped column was just copied out"),
        }
    }
}

/// `len` values of `T` starting at byte `offset` of `map`.
///
/// # Safety
/// `offset + len * size_of::<T>() <= map.len()` and `map.as_ptr() + offset` is aligned for `T`.
unsafe fn view<T: Scalar>(map: &Mmap, offset: usize, len: usize) -> &[T] {
    debug_assert!(offset + len * std::mem::size_of::<T>() <= map.len());
    // SAFETY: the bytes lie inside the mapping (so they are initialised and span at most
    // isize::MAX bytes) and the pointer is aligned for T: the caller's contract, which
    // `Column::mapped` checks before it builds a `Store::Mapped`, the only caller's input.
    // `T: Scalar` is a plain integer, float or [f64; 2]: no padding and every bit pattern valid,
    // so any initialised bytes are a valid `[T]`, read in place on this little-endian host. The
    // mapping is read-only (PROT_READ, MAP_PRIVATE: this process can never write it) and lives
    // as long as the returned slice, which borrows `map` (held by the column's Arc). No one
    // writes the file while it is mapped: snapshot files are written once to a new path that
    // the caller then renames into place, so a mapped inode is never modified or truncated.
    unsafe { std::slice::from_raw_parts(map.as_ptr().add(offset).cast::<T>(), len) }
}

impl<T: Scalar> Deref for Column<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.store {
            Store::Owned(values) => values,
            // SAFETY: `Column::mapped` checked bounds and alignment for exactly these values.
            Store::Mapped { map, offset, len } => unsafe { view(map, *offset, *len) },
        }
    }
}

impl<T: Scalar> From<Vec<T>> for Column<T> {
    /// The vector's values, its spare capacity given back (a column grown by pushes may hold
    /// twice what it needs).
    fn from(mut values: Vec<T>) -> Self {
        values.shrink_to_fit();
        Column {
            store: Store::Owned(values),
        }
    }
}

impl<T: Scalar> FromIterator<T> for Column<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Column::from(iter.into_iter().collect::<Vec<T>>())
    }
}

impl<T: Scalar> Default for Column<T> {
    fn default() -> Self {
        Column::from(Vec::new())
    }
}

impl<T: Scalar> fmt::Debug for Column<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Scalar> PartialEq for Column<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Scalar + Eq> Eq for Column<T> {}

impl<T: Scalar> PartialEq<[T]> for Column<T> {
    fn eq(&self, other: &[T]) -> bool {
        **self == *other
    }
}

impl<T: Scalar> PartialEq<Vec<T>> for Column<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owned_column_reads_as_its_vec() {
        let column = Column::from(vec![3u32, 1, 2]);
        assert_eq!(&*column, &[3, 1, 2]);
        assert_eq!(column.len(), 3);
        assert_eq!(column[1], 1);
        assert!(!column.is_mapped());
        assert_eq!(Column::<u64>::default().len(), 0);
        assert_eq!(column, vec![3, 1, 2]);
    }

    #[test]
    fn make_mut_changes_an_owned_column() {
        let mut column: Column<u8> = Column::default();
        column.make_mut().push(7);
        assert_eq!(&*column, &[7]);
    }
}
