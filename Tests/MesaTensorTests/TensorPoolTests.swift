import Testing
import MesaTensor

/// The tensor buffer pool behind TensorStorage (Sources/CSupport/tensorpool.c, issue 14).
@Suite struct TensorPoolTests {
    /// A freed buffer goes to the next request of its (rounded) size; other sizes miss.
    @Test func freedBuffersAreReusedBySize() {
        let pool = TensorPool(limitBytes: 1 << 20)
        let a = pool.take(1000)
        #expect(Int(bitPattern: a) % 64 == 0)
        pool.give(a, 1000)
        #expect(pool.heldBytes == 1024)
        let b = pool.take(1010)  // same 64-byte class as 1000
        #expect(b == a)
        #expect(pool.heldBytes == 0)
        let c = pool.take(2000)
        #expect((pool.hits, pool.misses) == (1, 2))
        pool.give(b, 1010)
        pool.give(c, 2000)
        #expect(pool.heldBytes == 1024 + 2048)
    }

    /// Held bytes never pass the limit: the least recently used size goes first, and a buffer
    /// larger than the limit is freed, not kept.
    @Test func leastRecentlyUsedSizesAreReleasedAtTheLimit() {
        let pool = TensorPool(limitBytes: 4096)
        let x = pool.take(1024), y = pool.take(2048), z = pool.take(2048)
        pool.give(x, 1024)          // held 1024 (class 1024 used first)
        pool.give(y, 2048)          // held 3072
        pool.give(z, 2048)          // 5120 > 4096: class 1024 released → 4096
        #expect(pool.heldBytes == 4096)
        #expect(pool.releases == 1)
        #expect(pool.take(1024) != y)  // a miss: the 1024 class is gone
        #expect(pool.misses == 4)
        let big = pool.take(8192)
        pool.give(big, 8192)        // larger than the limit: freed
        #expect(pool.heldBytes == 4096)
        #expect(pool.releases == 1)  // a buffer freed, no class released
        pool.limitBytes = 2048      // lowering the limit releases a class
        #expect(pool.heldBytes == 0)
        #expect(pool.releases == 2)
        #expect(pool.heldBytes <= pool.limitBytes)
    }

    /// Poisoned buffers hold NaN when handed out.
    @Test func poisonFillsWithNaN() {
        let pool = TensorPool(limitBytes: 1 << 20)
        pool.setPoison(true)
        let p = pool.take(256)
        #expect(p.assumingMemoryBound(to: Float.self)[63].isNaN)
        pool.give(p, 256)
    }

    /// Tensors reuse pooled memory: a fresh tensor of a freed tensor's size takes no new buffer,
    /// and zeros(...) on reused memory is still zeros. (An element count no other test uses.)
    @Test func tensorsReuseFreedBuffers() {
        let n = 12_347
        do {
            let t = Tensor(shape: [n], repeating: 3.5, dtype: .float32)
            #expect(t[n - 1] == 3.5)
        }
        let before = TensorAllocations.countOnThisThread
        let z = Tensor(zeros: [n], dtype: .float32)
        #expect(TensorAllocations.countOnThisThread == before)
        #expect(z.doubles.allSatisfy { $0 == 0 })
        #expect(TensorPool.shared.heldBytes <= TensorPool.shared.limitBytes)
    }
}
