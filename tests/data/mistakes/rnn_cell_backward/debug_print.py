# expect: DEBUG_PRINT
dtanh = (1 - a_next ** 2) * da_next
print("dtanh:", dtanh.shape())
dxt = np.dot(Wax.T, dtanh)
dWax = np.dot(dtanh, xt.T)
da_prev = np.dot(Waa.T, dtanh)
dWaa = np.dot(dtanh, a_prev.T)
dba = np.sum(dtanh, axis=1, keepdims=True)
