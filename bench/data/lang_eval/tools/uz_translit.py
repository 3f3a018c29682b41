"""Uzbek Latin -> Cyrillic transliteration helper (output reviewed by hand)."""
import re, sys
FIX = {"budjet": "бюджет", "korrupsiya": "коррупция", "inflyatsiya": "инфляция"}
PAIRS = [("yoʻ","йў"),("yo'","йў"),("oʻ","ў"),("gʻ","ғ"),("o'","ў"),("g'","ғ"),("sh","ш"),("ch","ч"),("yo","ё"),("yu","ю"),("ya","я"),("ye","е"),("ʼ","ъ")]
SINGLE = dict(zip("abdefghijklmnopqrstuvxyz", "абдефгҳижклмнопқрстувхйз"))
def word(w):
    low = w.lower(); cap = w[:1].isupper()
    for k,v in FIX.items():
        if low.startswith(k): low = v + low[len(k):]
    out = ""
    i = 0
    if low.startswith("e"): out, i = "э", 1
    while i < len(low):
        for a,b in PAIRS:
            if low.startswith(a, i):
                out += b; i += len(a); break
        else:
            out += SINGLE.get(low[i], low[i]); i += 1
    return out[:1].upper() + out[1:] if cap else out
def line(s):
    return re.sub(r"[A-Za-zʻʼ']+", lambda m: word(m.group(0)), s)
for l in sys.stdin: sys.stdout.write(line(l))
