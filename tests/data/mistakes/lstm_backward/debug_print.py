# expect: DEBUG_PRINT
(caches_list, x) = caches
(a1, c1, a0, c0, f1, i1, cc1, o1, x1, parameters) = caches_list[0]
n_a, m, T_x = da.shape
n_x, m = x1.shape
dx = np.zeros((n_x, m, T_x))
da0 = np.zeros((n_a, m))
da_prevt = np.zeros((n_a, m))
dc_prevt = np.zeros((n_a, m))
dWf = np.zeros((n_a, n_a + n_x))
dWi = np.zeros((n_a, n_a + n_x))
dWc = np.zeros((n_a, n_a + n_x))
dWo = np.zeros((n_a, n_a + n_x))
dbf = np.zeros((n_a, 1))
dbi = np.zeros((n_a, 1))
dbc = np.zeros((n_a, 1))
dbo = np.zeros((n_a, 1))
for t in reversed(range(T_x)):
    gradients = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches_list[t])
    dx[:, :, t] = gradients["dxt"]
    print(t, gradients["dx"].shape)
    dWf += gradients["dWf"]
    dWi += gradients["dWi"]
    dWc += gradients["dWc"]
    dWo += gradients["dWo"]
    dbf += gradients["dbf"]
    dbi += gradients["dbi"]
    dbc += gradients["dbc"]
    dbo += gradients["dbo"]
    da_prevt = gradients["da_prev"]
    dc_prevt = gradients["dc_prev"]
da0 = da_prevt
