"""
What the tests share, apart from the tests themselves: test doubles
(L{doubles}), builders of factories, connections and expected bytes
(L{builders}), the fuzzing oracle (L{oracle}), services on real TCP
(L{tcp}) and real C{twistd} processes (L{processes}).
"""
