#!/usr/bin/env python3
"""Which b-tree each frame of a SQLite WAL file rewrote, for the Daakia SQLite store's layout.

    python3 bench/wal-frames.py DATA_DIR/daakia.db-wal

Reads only the frames of the WAL's current generation (salts match the header), classifies each page by its
b-tree type and the column count / types of its first cell (messages, entries, entries_by_id, entries_by_expiry,
records, queues or activity rows, interior pages, page 1, overflow or freelist pages), and prints frames per commit
of each. Copy the WAL of a server stopped with kill -9 (a clean stop checkpoints and removes it) before opening the
database with any SQLite tool, which would do the same.
"""
import struct,collections,sys
wal=open(sys.argv[1],'rb').read()
ps=struct.unpack('>I',wal[8:12])[0]; s1,s2=struct.unpack('>II',wal[16:24])
def varint(b,i):
    v=0
    for k in range(9):
        c=b[i+k]
        if k==8: return (v<<8)|c, i+9
        v=(v<<7)|(c&0x7f)
        if c<0x80: return v,i+k+1
def rec_types(p,cellptr,leaf_table):
    i=cellptr
    _,i=varint(p,i)  # payload size
    if leaf_table: _,i=varint(p,i)  # rowid
    hs,j=varint(p,i); end=i+hs; t=[]
    while j<end and len(t)<12:
        v,j=varint(p,j); t.append(v)
    return t
def kind(pg,p):
    h=100 if pg==1 else 0
    typ=p[h]
    if pg==1: return 'page1(header/schema)'
    if typ not in (2,5,10,13): return 'overflow/freelist'
    ncell=struct.unpack('>H',p[h+3:h+5])[0]
    if typ in (2,5): return 'interior'
    if ncell==0: return 'empty leaf'
    hdr=h+8
    cp=struct.unpack('>H',p[hdr:hdr+2])[0]
    t=rec_types(p,cp,typ==13)
    n=len(t)
    def isblob(x): return x>=12 and x%2==0
    def istext(x): return x>=13 and x%2==1
    if typ==13:
        if n==11: return 'messages'
        if n==7: return 'queues or activity'
        return 'table?%d'%n
    if n==8: return 'entries'
    if n==4 and istext(t[0]): return 'records'
    if n==3 and isblob(t[1]): return 'entries_by_id'
    if n==3: return 'entries_by_expiry'
    if n==4: return 'queues_by_key'
    if n==2: return 'activity_by_tenant'
    return 'index?%d:%s'%(n,t[:4])
off=32; c=collections.Counter(); frames=0; commits=0
while off+24+ps<=len(wal):
    pg,commit,fs1,fs2=struct.unpack('>IIII',wal[off:off+16])
    if (fs1,fs2)!=(s1,s2): break
    c[kind(pg,wal[off+24:off+24+ps])]+=1; frames+=1; commits+= commit!=0
    off+=24+ps
print('frames',frames,'commits',commits,'frames/commit %.1f'%(frames/max(commits,1)))
for k,v in c.most_common(): print('%-26s %6d %5.1f%%  %.2f/commit'%(k,v,100*v/frames,v/max(commits,1)))
