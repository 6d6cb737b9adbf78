# expect: NO_BIAS_BA
z = np.dot(Waa, a_prev) + np.dot(Wax, xt)
a_next = np.tanh(z)
yt_pred = softmax(np.dot(Wya, a_next) + by)
