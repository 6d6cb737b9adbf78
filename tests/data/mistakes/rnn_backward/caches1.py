# expect: CACHES1_INDEX
(cache_list, x) = caches
(a1, a0, x1, parameters) = cache_list[1]
n_a, m = da.shape[0], da.shape[1]
n_x, T_x = x1.shape[0], x.shape[2]
dx = np.zeros((n_x, m, T_x))
dWax = np.zeros((n_a, n_x))
dWaa = np.zeros((n_a, n_a))
dba = np.zeros((n_a, 1))
da_prevt = np.zeros((n_a, m))
for t in reversed(range(T_x)):
    gradients = rnn_cell_backward(da[:, :, t] + da_prevt, cache_list[t])
    dx[:, :, t] = gradients["dxt"]
    da_prevt = gradients["da_prev"]
    dWax += gradients["dWax"]
    dWaa += gradients["dWaa"]
    dba += gradients["dba"]
da0 = da_prevt
