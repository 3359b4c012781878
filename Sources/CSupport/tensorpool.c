/* The tensor buffer pool (issue 14): freed TensorStorage buffers are kept per size (rounded up
   to 64 bytes) and handed to the next request of that size, so a warm training step takes no
   buffer from malloc. A pool holds at most `limit` bytes of free buffers; when a returned
   buffer would pass it, whole size classes are released, least recently used first. Only
   misses of the process's pool (fresh buffers from the C allocator) are counted by
   mesa_count_tensor_allocation. */
#include "CSupport.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long bytes;
    void **items;
    int count, capacity;
    unsigned long lastUse;
} PoolClass;

enum { MAX_CLASSES = 512 };

struct MesaBufferPool {
    PoolClass classes[MAX_CLASSES];
    int classCount;
    long heldBytes;
    long limitBytes; /* -1: read MESA_TENSOR_POOL_MIB on first use */
    unsigned long useClock;
    int poison;
    long hits, misses, releases;
    pthread_mutex_t lock;
};

static MesaBufferPool processPool = {.limitBytes = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static long roundedSize(long bytes) { return ((bytes < 1 ? 1 : bytes) + 63) & ~63L; }

static void readLimitLocked(MesaBufferPool *pool) {
    if (pool->limitBytes >= 0) return;
    const char *poison = getenv("MESA_TENSOR_POOL_POISON");
    if (poison && *poison == '1') pool->poison = 1;
    const char *s = getenv("MESA_TENSOR_POOL_MIB");
    long mib = 1024;
    if (s && *s) {
        char *end = 0;
        long v = strtol(s, &end, 10);
        if (end && *end == 0 && v >= 0) mib = v;
    }
    pool->limitBytes = mib << 20;
}

static PoolClass *findClassLocked(MesaBufferPool *pool, long bytes) {
    for (int i = 0; i < pool->classCount; i++)
        if (pool->classes[i].bytes == bytes) return &pool->classes[i];
    return 0;
}

/* Frees every buffer of class i and removes the class (the last class moves into slot i). */
static void releaseClassLocked(MesaBufferPool *pool, int i) {
    PoolClass *c = &pool->classes[i];
    for (int k = 0; k < c->count; k++) free(c->items[k]);
    pool->heldBytes -= c->bytes * (long)c->count;
    free(c->items);
    pool->classes[i] = pool->classes[pool->classCount - 1];
    pool->classCount -= 1;
    pool->releases += 1;
}

/* The least recently used class other than the one of size `keep` (empty ones only when
   `includeEmpty`), or -1. */
static int lruClassLocked(MesaBufferPool *pool, long keep, int includeEmpty) {
    int best = -1;
    for (int i = 0; i < pool->classCount; i++) {
        PoolClass *c = &pool->classes[i];
        if (c->bytes == keep || (c->count == 0 && !includeEmpty)) continue;
        if (best < 0 || c->lastUse < pool->classes[best].lastUse) best = i;
    }
    return best;
}

void *mesa_buffer_pool_take(MesaBufferPool *pool, long bytes) {
    long size = roundedSize(bytes);
    void *p = 0;
    pthread_mutex_lock(&pool->lock);
    readLimitLocked(pool);
    PoolClass *c = findClassLocked(pool, size);
    if (c && c->count > 0) {
        p = c->items[--c->count];
        c->lastUse = ++pool->useClock;
        pool->heldBytes -= size;
        pool->hits += 1;
    } else {
        pool->misses += 1;
    }
    int fill = pool->poison;
    pthread_mutex_unlock(&pool->lock);
    if (!p) {
        p = aligned_alloc(64, (size_t)size);
        if (!p) abort();
        if (pool == &processPool) mesa_count_tensor_allocation(size);
    }
    if (fill) memset(p, 0xFF, (size_t)size); /* NaN in every float: nothing may read it unwritten */
    return p;
}

void mesa_buffer_pool_give(MesaBufferPool *pool, void *p, long bytes) {
    long size = roundedSize(bytes);
    pthread_mutex_lock(&pool->lock);
    readLimitLocked(pool);
    if (size > pool->limitBytes) goto drop;
    while (pool->heldBytes + size > pool->limitBytes) {
        int i = lruClassLocked(pool, size, 0);
        if (i < 0) goto drop;
        releaseClassLocked(pool, i);
    }
    PoolClass *c = findClassLocked(pool, size);
    if (!c) {
        if (pool->classCount == MAX_CLASSES) {
            int i = lruClassLocked(pool, size, 1);
            if (i < 0) goto drop;
            releaseClassLocked(pool, i);
        }
        c = &pool->classes[pool->classCount++];
        memset(c, 0, sizeof *c);
        c->bytes = size;
    }
    if (c->count == c->capacity) {
        int cap = c->capacity ? 2 * c->capacity : 4;
        void **items = realloc(c->items, sizeof(void *) * (size_t)cap);
        if (!items) goto drop;
        c->items = items;
        c->capacity = cap;
    }
    c->items[c->count++] = p;
    c->lastUse = ++pool->useClock;
    pool->heldBytes += size;
    pthread_mutex_unlock(&pool->lock);
    return;
drop:
    pthread_mutex_unlock(&pool->lock);
    free(p);
}

void mesa_buffer_pool_set_limit(MesaBufferPool *pool, long bytes) {
    pthread_mutex_lock(&pool->lock);
    pool->limitBytes = bytes < 0 ? 0 : bytes;
    while (pool->heldBytes > pool->limitBytes) {
        int i = lruClassLocked(pool, -1, 0);
        if (i < 0) break;
        releaseClassLocked(pool, i);
    }
    pthread_mutex_unlock(&pool->lock);
}

long mesa_buffer_pool_limit(MesaBufferPool *pool) {
    pthread_mutex_lock(&pool->lock);
    readLimitLocked(pool);
    long v = pool->limitBytes;
    pthread_mutex_unlock(&pool->lock);
    return v;
}

long mesa_buffer_pool_held_bytes(MesaBufferPool *pool) {
    pthread_mutex_lock(&pool->lock);
    long v = pool->heldBytes;
    pthread_mutex_unlock(&pool->lock);
    return v;
}

long mesa_buffer_pool_hits(MesaBufferPool *pool) {
    pthread_mutex_lock(&pool->lock);
    long v = pool->hits;
    pthread_mutex_unlock(&pool->lock);
    return v;
}

long mesa_buffer_pool_misses(MesaBufferPool *pool) {
    pthread_mutex_lock(&pool->lock);
    long v = pool->misses;
    pthread_mutex_unlock(&pool->lock);
    return v;
}

long mesa_buffer_pool_releases(MesaBufferPool *pool) {
    pthread_mutex_lock(&pool->lock);
    long v = pool->releases;
    pthread_mutex_unlock(&pool->lock);
    return v;
}

void mesa_buffer_pool_set_poison(MesaBufferPool *pool, int on) {
    pthread_mutex_lock(&pool->lock);
    pool->poison = on;
    pthread_mutex_unlock(&pool->lock);
}

MesaBufferPool *mesa_tensor_buffer_pool(void) { return &processPool; }

MesaBufferPool *mesa_buffer_pool_create(long limitBytes) {
    MesaBufferPool *pool = calloc(1, sizeof *pool);
    if (!pool) abort();
    pool->limitBytes = limitBytes < 0 ? 0 : limitBytes;
    pthread_mutex_init(&pool->lock, 0);
    return pool;
}

void mesa_buffer_pool_destroy(MesaBufferPool *pool) {
    if (pool == &processPool) return;
    while (pool->classCount > 0) releaseClassLocked(pool, pool->classCount - 1);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}
